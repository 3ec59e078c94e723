import { setTimeout as sleep } from 'node:timers/promises'
import { createPool } from './database.ts'

/** How long to wait for a server that is starting (refusing connections, or "starting up"). */
const startingLimitMs = 60_000

/** A database that cannot be used, in one line that says why and what to do. */
export class DatabaseUnreachable extends Error {
  override name = 'DatabaseUnreachable'
}

function reason (error: Error & { code?: string }, url: URL): string | undefined {
  const where = `${url.hostname}:${url.port || '5432'}`
  const database = decodeURIComponent(url.pathname.slice(1)) || 'postgres'
  const user = decodeURIComponent(url.username) || 'postgres'
  if (error.code === '28P01' || error.code === '28000') return `cannot log in to ${where} as ${user}: wrong password, or the user may not connect (${error.message})`
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') return `unknown host ${url.hostname}: check DATABASE_URL or PGHOST`
  if (error.code === '3D000') return `database ${database} does not exist on ${where}: create it with  createdb -h ${url.hostname} -p ${url.port || '5432'} -U ${user} ${database}`
  if (error.code === 'ECONNREFUSED' || error.code === '57P03') return undefined
  return `cannot connect to ${where}: ${error.message}`
}

/**
 * Connects to `url` once, within 5 s: a wrong password, an unknown host or a missing database
 * fail at once with a DatabaseUnreachable that says what to do. Only a server that is starting
 * (refusing connections, or answering "starting up") is waited for, up to a minute.
 */
export async function checkReachable (url: string, ssl: boolean, onWait: (line: string) => void = () => {}): Promise<void> {
  const parsed = new URL(url)
  const until = Date.now() + startingLimitMs
  for (let waited = false; ; waited = true) {
    const pool = createPool({ url, ssl, poolMax: 1, timeouts: { connect: 5_000 } })
    try {
      await pool.query('SELECT 1')
      return
    } catch (error) {
      const why = reason(error as Error & { code?: string }, parsed)
      if (why !== undefined) throw new DatabaseUnreachable(why)
      if (Date.now() > until) throw new DatabaseUnreachable(`${parsed.hostname}:${parsed.port || '5432'} refused connections for a minute: is PostgreSQL running there?`)
      if (!waited) onWait(`waiting for ${parsed.hostname}:${parsed.port || '5432'} to accept connections`)
    } finally {
      await pool.end()
    }
    await sleep(1_000)
  }
}
