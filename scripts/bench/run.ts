/**
 * `make bench`: measures the booking API end to end. It finds a PostgreSQL server the way the tests
 * do, migrates a fresh database, starts the real server as a child process, warms it up and runs
 * the phases in order (each in phases/, each with its rows of the table), prints the table, writes
 * the full results to bench/results/<timestamp>.json, and exits 0 whenever it could measure: a
 * missed target is a finding, not a crash.
 *
 * BENCH_SCALE multiplies seat and request counts (default 1); BENCH_SECONDS is the length of the
 * timed phases (default 10); BENCH_PHASES picks phases by name; BENCH_ONSALE_MINUTES is how long the on-sale admits at its first rate (default 4) (default all; a phase whose rows
 * compare against another brings that one along). `BENCH_SCALE=0.01 BENCH_SECONDS=1` is the smoke
 * test's run.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import { createDatabase, withDatabaseName } from '../../src/db/database.ts'
import { dbmate } from '../../src/db/migrations.ts'
import { createServerDatabase, dropServerDatabase, serverNodes } from '../cluster-databases.ts'
import { startTestServer } from '../postgres-server.ts'
import { cleanUp, onCleanUp } from './cleanup.ts'
import { Measured, type Bench, type Phase } from './context.ts'
import { ceiling } from './phases/ceiling.ts'
import { confirmPhase } from './phases/confirm.ts'
import { creationUnderLoadPhase } from './phases/creation-under-load.ts'
import { fillCurvePhase } from './phases/fill-curve.ts'
import { keyedFlashSale, plainFlashSale } from './phases/flash-sale.ts'
import { lapsedSeatsPhase } from './phases/lapsed-seats.ts'
import { onSalePhase } from './phases/on-sale.ts'
import { sellOutPhase } from './phases/sell-out.ts'
import { stampedePhase } from './phases/stampede.ts'
import { togetherPhase } from './phases/together.ts'
import { warmUp } from './phases/warm-up.ts'
import { rssMeter } from './process-stats.ts'
import { startApi } from './server.ts'
import { holdSeconds, poolMax, root, round, say, scale, seconds, targets } from './settings.ts'
import { printTable, type Row } from './table.ts'

const resultsDir = path.join(root, 'bench', 'results')

/** Every phase, in the order they run. */
const phases: Array<Phase<any>> = [plainFlashSale, keyedFlashSale, fillCurvePhase, sellOutPhase, togetherPhase, confirmPhase, ceiling, creationUnderLoadPhase, lapsedSeatsPhase, stampedePhase, onSalePhase]

function selectedPhases (): Array<Phase<any>> {
  const raw = process.env.BENCH_PHASES ?? ''
  if (raw.trim() === '') return phases
  const names = raw.split(',').map((name) => name.trim()).filter(Boolean)
  const unknown = names.filter((name) => !phases.some((phase) => phase.name === name))
  if (unknown.length > 0) throw new Error(`BENCH_PHASES: no phase ${unknown.join(', ')}; the phases are ${phases.map((phase) => phase.name).join(', ')}`)
  const chosen = new Set(phases.filter((phase) => names.includes(phase.name)))
  for (const phase of [...chosen]) for (const needed of phase.needs ?? []) chosen.add(needed)
  return phases.filter((phase) => chosen.has(phase))
}

/** A new migrated database; on a Citus coordinator, distributed over its workers. */
async function freshDatabaseUrl (serverUrl: string): Promise<string> {
  const name = `bench_${randomBytes(6).toString('hex')}`
  const nodes = await serverNodes(serverUrl)
  await createServerDatabase(nodes, name)
  onCleanUp(async () => await dropServerDatabase(nodes, name))
  const url = withDatabaseName(serverUrl, name)
  await dbmate(url, ['up'])
  return url
}

function connect (url: string) {
  const { db } = createDatabase({ url, poolMax: 4, applicationName: 'booking-bench' })
  onCleanUp(async () => await db.destroy())
  return db
}

function serverRows (peakRssMb: number, logLines: number): Row[] {
  return [
    peakRssMb === 0
      ? { phase: 'server', metric: 'peak RSS (MB)', value: 'not measured', target: `<= ${targets.rssMb}` }
      : { phase: 'server', metric: 'peak RSS (MB)', value: String(peakRssMb), target: `<= ${targets.rssMb}`, pass: peakRssMb <= targets.rssMb },
    { phase: 'server', metric: 'log lines at warn or worse', value: String(logLines), target: '' }
  ]
}

async function measure () {
  const startedAt = new Date()
  const selected = selectedPhases()
  const server = await startTestServer()
  onCleanUp(server.stop)
  say(`# bench: PostgreSQL from ${server.source}, BENCH_SCALE=${scale}, BENCH_SECONDS=${seconds}, server PGPOOL_MAX=${poolMax}, phases ${selected.map((phase) => phase.name).join(',')}`)
  const databaseUrl = await freshDatabaseUrl(server.url)
  const db = connect(databaseUrl)
  const api = await startApi(databaseUrl)
  const bench: Bench = {
    base: api.base,
    db,
    databaseUrl,
    rss: rssMeter(api.pid),
    freshDatabase: async () => {
      const url = await freshDatabaseUrl(server.url)
      return { url, db: connect(url) }
    }
  }

  await warmUp(bench.base)
  const measured = new Measured()
  for (const phase of selected) measured.set(phase, await phase.run(bench))
  const rows = selected.flatMap((phase) => phase.rows(measured.get(phase), measured))
  const peakKb = Math.max(0, ...Object.values(bench.rss.peakKbByPhase))
  const { rows: [version] } = await sql<{ server_version: string }>`SHOW server_version`.execute(db)
  const serverResults = {
    peakRssMb: round(peakKb / 1024, 1),
    peakRssMbByPhase: Object.fromEntries(Object.entries(bench.rss.peakKbByPhase).map(([phase, kb]) => [phase, round(kb / 1024, 1)])),
    logLines: api.logLines(),
    logTail: api.log.slice(-20)
  }
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    settings: { scale, seconds, holdSeconds, poolMax: Number(poolMax), phases: selected.map((phase) => phase.name), targets },
    environment: {
      databaseSource: server.source,
      postgres: version?.server_version,
      node: process.version,
      cpus: os.cpus().length,
      platform: `${os.platform()} ${os.release()}`
    },
    ...Object.fromEntries(selected.map((phase) => [phase.key, measured.get(phase)])),
    server: serverResults,
    rows: [...rows, ...serverRows(serverResults.peakRssMb, serverResults.logLines)]
  }
}

async function main (): Promise<void> {
  try {
    const results = await measure()
    printTable(results.rows)
    const tail = results.server.logTail
    if (tail.length > 0) say(`\nThe server logged ${results.server.logLines} lines; the last of them:\n${tail.slice(-5).join('\n')}`)
    await mkdir(resultsDir, { recursive: true })
    const file = path.join(resultsDir, `${results.startedAt.replaceAll(':', '-')}.json`)
    await writeFile(file, `${JSON.stringify(results, null, 2)}\n`)
    say(`\nresults written to ${path.relative(process.cwd(), file)}`)
  } finally {
    await cleanUp()
  }
}

try {
  await main()
} catch (error) {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`)
  process.exitCode = 1
}
