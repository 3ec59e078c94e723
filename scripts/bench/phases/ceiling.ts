import { execFile } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { sql } from 'kysely'
import type { Database } from '../../../src/db/database.ts'
import { createShow } from '../api.ts'
import type { Bench, Phase } from '../context.ts'
import { singleHold, textOf, withPlans } from '../hold-plan.ts'
import { largestShow, round, say, scaled, seconds } from '../settings.ts'
import { planRow, type Row } from '../table.ts'

/**
 * The ceiling: the API's hold statement with one hold each, straight through pgbench, as the API
 * runs it for a lone hold. The API places concurrent holds of one show together in one statement,
 * so it can exceed that ceiling.
 */

const execFileAsync = promisify(execFile)

function findPgbench (): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/usr/lib/postgresql/15/bin']
  for (const dir of dirs.filter(Boolean)) {
    const candidate = path.join(dir, 'pgbench')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/** 64 clients unless the server has fewer connections to spare (other test files may be running). */
async function pgbenchClients (db: Database): Promise<number> {
  const { rows: [spare] } = await sql<{ slots: number }>`
    SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
           - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS slots`.execute(db)
  return Math.max(1, Math.min(64, (spare?.slots ?? 64) - 4))
}

/** The statement with its $n parameters as pgbench variables: -M prepared sends them as parameters to a statement prepared once per connection, as the server does. */
function pgbenchScript (db: Database, showId: string): { script: string, defines: string[] } {
  const compiled = singleHold(db, showId)
  const script = `${compiled.sql.replace(/\$(\d+)/g, (_, n: string) => `:p${n}`).trim()};\n`
  const defines = compiled.parameters.flatMap((value, index) => ['-D', `p${index + 1}=${textOf(value)}`])
  return { script, defines }
}

function pgbenchFigure (output: string, pattern: RegExp): number {
  const match = pattern.exec(output)
  if (match === null) throw new Error(`pgbench output lacks ${pattern}:\n${output}`)
  return Number(match[1])
}

async function runPgbench (bench: Bench, pgbench: string) {
  const seats = scaled(largestShow)
  const showId = await createShow(bench.base, 'bench: ceiling', seats)
  const { script, defines } = pgbenchScript(bench.db, showId)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'booking-bench-'))
  try {
    const file = path.join(dir, 'hold.sql')
    await writeFile(file, script)
    const clients = await pgbenchClients(bench.db)
    const threads = Math.min(2, clients)
    const pgSeconds = Math.max(1, Math.round(seconds))
    say(`› ceiling: pgbench, the API's hold statement with one hold each, ${clients} clients for ${pgSeconds} s on ${seats} seats`)
    const args = ['-n', '-M', 'prepared', '-f', file, '-c', String(clients), '-j', String(threads), '-T', String(pgSeconds), ...defines, bench.databaseUrl]
    const { plan, result: { stdout } } = await withPlans(bench.db, showId, async () => await execFileAsync(pgbench, args, { maxBuffer: 16 * 1024 * 1024 }))
    const transactions = pgbenchFigure(stdout, /number of transactions actually processed: (\d+)/)
    const tps = pgbenchFigure(stdout, /tps = ([\d.]+) \(without initial connection time\)/)
    const { rows: [made] } = await sql<{ holds: number }>`
      SELECT count(*)::int AS holds FROM bookings WHERE show_id = ${showId}`.execute(bench.db)
    const holds = made?.holds ?? 0
    // Once the show runs out, statements hold nothing and run faster: count holds, not statements.
    const holdsPerSecond = transactions > 0 ? round(tps * holds / transactions, 1) : 0
    return { showId, seats, clients, threads, seconds: pgSeconds, mode: 'prepared', transactions, tps: round(tps, 1), holds, holdsPerSecond, plan, script }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** The ceiling is a reference, not the subject: without it the API's figures still stand. */
async function measureCeiling (bench: Bench): Promise<Awaited<ReturnType<typeof runPgbench>> | { skipped: string }> {
  const pgbench = findPgbench()
  if (pgbench === undefined) {
    say('› ceiling: skipped, pgbench not found')
    return { skipped: 'pgbench not found' }
  }
  try {
    return await runPgbench(bench, pgbench)
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim() ?? ''
    const message = stderr === '' ? (error as Error).message : stderr
    say(`› ceiling: skipped, pgbench failed: ${message}`)
    return { skipped: `pgbench failed: ${message}` }
  }
}

type Ceiling = Awaited<ReturnType<typeof measureCeiling>>

function ceilingRows (top: Ceiling): Row[] {
  if ('skipped' in top) return [{ phase: 'ceiling', metric: 'pgbench', value: `skipped: ${top.skipped}`, target: '' }]
  return [
    { phase: 'ceiling', metric: `pgbench holds/s (${top.clients} clients)`, value: String(top.holdsPerSecond), target: '' },
    { phase: 'ceiling', metric: 'pgbench tps / holds / statements', value: `${top.tps} / ${top.holds} / ${top.transactions}`, target: '' },
    planRow('ceiling', top.plan)
  ]
}

export const ceiling: Phase<Ceiling> = {
  name: 'ceiling',
  key: 'ceiling',
  run: measureCeiling,
  rows: ceilingRows
}
