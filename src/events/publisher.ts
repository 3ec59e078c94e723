import { sql } from 'kysely'
import type { Database } from '../db/database.ts'
import type { Log } from '../background-log.ts'

export interface Publisher {
  /** Tells every process, within `intervalMs`, that the seats of `showId` changed. */
  publish: (showId: string) => void
  /** Sends what is still pending, then publishes nothing more. */
  close: () => Promise<void>
}

/**
 * Publishes changed shows as NOTIFY `channel`, outside the writes' transactions: a NOTIFY inside
 * the hold transaction takes a database-wide lock at commit, which would serialise a flash sale's
 * commits. Changes are collected for `intervalMs` and sent in one statement through the ordinary
 * pool, one notification per changed show; with nothing changed, no timer runs.
 */
export function createPublisher (db: Database, channel: string, intervalMs: number, log: Log): Publisher {
  const changed = new Set<string>()
  let timer: NodeJS.Timeout | undefined
  let flushing: Promise<void> | undefined
  let failing = false
  let closed = false

  async function flush (): Promise<void> {
    const ids = [...changed]
    changed.clear()
    try {
      await sql`SELECT pg_notify(${channel}, id::text) FROM unnest(${ids}::uuid[]) AS id`.execute(db)
      if (failing) log.info({ shows: ids.length }, 'publishing show changes works again')
      failing = false
    } catch (error) {
      // Kept for the next round: subscribers elsewhere would otherwise wait for their next heartbeat.
      for (const id of ids) changed.add(id)
      if (!failing) log.warn({ err: error }, 'could not publish show changes; retrying')
      failing = true
    }
  }

  function arm (): void {
    if (closed || timer !== undefined || flushing !== undefined || changed.size === 0) return
    timer = setTimeout(() => {
      timer = undefined
      flushing = flush().finally(() => {
        flushing = undefined
        arm()
      })
    }, intervalMs)
    timer.unref()
  }

  return {
    publish (showId) {
      if (closed) return
      changed.add(showId)
      arm()
    },
    async close () {
      closed = true
      clearTimeout(timer)
      timer = undefined
      await flushing
      if (changed.size > 0) await flush()
      changed.clear()
    }
  }
}
