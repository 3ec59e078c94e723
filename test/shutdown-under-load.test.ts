import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import type { Availability, Show } from '../api/index.ts'
import { createDatabase } from '../src/db/database.ts'
import {
  checkAcknowledged, createShow, describe, Ledger, refused, requestTimeoutMs, runStorm, stormServerEnv, type RequestRecord
} from './helpers/acknowledged.ts'
import { freshDatabaseUrl } from './helpers/database.ts'
import { startServerProcess, type ServerProcess } from './helpers/server-process.ts'

/*
 * Graceful shutdown under load: SIGTERM in the middle of a booking storm lets every request in
 * flight finish with a real answer, refuses the later ones cleanly, and exits 0 in time.
 *
 * In flight at the signal means sent before it: over loopback its bytes are at the server's
 * socket at once, whether or not the process has accepted the connection or read them yet. The
 * server's own request log (each request carries its number as `?req=n`) tells which ones it
 * began, and so which ones came before or after it took the signal. So that something is surely being worked on at the
 * signal, it comes while the server is creating a show of 100,000 seats, a long write that must
 * still complete, whole. A request sent after the signal may still meet the server closing its
 * idle connection: it is refused then with a reset, which is a refusal of a request the server
 * never began (the log says so), not a cut.
 *
 * How it fails: if the shutdown cut requests (connections with a request on them destroyed, the
 * pool or the process gone before they were answered), a request sent before the signal ends in
 * a reset or a 5xx, and what it wrote may be in the database unacknowledged, which the exact check
 * after the restart reports; if keep-alive connections held the close open, or the drain took too
 * long, the exit comes after the 10 s grace with code 1; a request that hangs fails on its 5 s
 * timeout.
 */

const adminToken = 'shutdown-test-admin-token-0123456789'
const admin = { authorization: `Bearer ${adminToken}` }
const totalSeats = 4_000
const bigShowSeats = 100_000
const loops = 32
const graceMs = 10_000
const env = stormServerEnv(adminToken)

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

interface ServerRequest { incoming: number, completed?: number, status?: number }

interface ServerLog {
  /** Requests the server began ('incoming request'), by the client's number, with log positions. */
  begun: Map<number, ServerRequest>
  /** Position of the 'shutting down' line: when the server took the signal. */
  shutdown: number
  /** Lines logged at error level or above. */
  errors: string[]
}

interface LogLine { level?: number, msg?: string, reqId?: string, req?: { url?: string }, res?: { statusCode?: number } }

function parseLines (stdout: string): LogLine[] {
  return stdout.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return []
    try {
      return [JSON.parse(line) as LogLine]
    } catch {
      return []
    }
  })
}

function readServerLog (stdout: string): ServerLog {
  const begun = new Map<number, ServerRequest>()
  const byReqId = new Map<string, ServerRequest>()
  const errors: string[] = []
  let shutdown = -1
  parseLines(stdout).forEach((line, position) => {
    if ((line.level ?? 0) >= 50) errors.push(JSON.stringify(line))
    if (line.msg === 'shutting down') shutdown = position
    if (line.reqId === undefined) return
    const n = /[?&]req=(\d+)/.exec(line.req?.url ?? '')?.[1]
    if (line.msg === 'incoming request' && n !== undefined) {
      const request: ServerRequest = { incoming: position }
      begun.set(Number(n), request)
      byReqId.set(line.reqId, request)
    }
    const request = byReqId.get(line.reqId)
    if (line.msg === 'request completed' && request !== undefined) {
      request.completed = position
      request.status = line.res?.statusCode
    }
  })
  return { begun, shutdown, errors }
}

const listed = (problems: string[]): string[] => problems.length <= 20 ? problems : [...problems.slice(0, 20), `... and ${problems.length - 20} more`]

const realAnswer = (record: RequestRecord): boolean => record.outcome.kind === 'answer' && record.outcome.status < 500

/** A refusal: a 503 problem that ends its connection, so that the client goes elsewhere. */
const cleanRefusal = (record: RequestRecord): boolean => record.outcome.kind === 'answer' && record.outcome.status === 503 &&
  record.outcome.connectionClose && (record.outcome.body as { code?: string } | undefined)?.code === 'service_unavailable'

/**
 * Every request the server began got a whole answer, as the server logged it: a 2xx or 4xx when
 * begun before the signal (in flight when it came, or done already), else that or a clean refusal.
 */
function badlyEnded (log: ServerLog, requests: Map<number, RequestRecord>): string[] {
  const problems: string[] = []
  for (const [n, begun] of log.begun) {
    const record = requests.get(n)
    const beforeSignal = begun.incoming < log.shutdown
    if (begun.completed === undefined) problems.push(`#${n}: the server began it and never logged it completed`)
    if (record === undefined) problems.push(`#${n}: the server began a request the client never sent`)
    else if (record.outcome.kind === 'failed') problems.push(`begun by the server, yet ${describe(record)}`)
    else if (!realAnswer(record) && (beforeSignal || !cleanRefusal(record))) problems.push(`begun ${beforeSignal ? 'before' : 'after'} the signal, yet ${describe(record)}`)
    else if (begun.status !== record.outcome.status) problems.push(`the server logged ${begun.status ?? 'no status'}, yet ${describe(record)}`)
  }
  return problems
}

/** Answers after the signal are real ones (2xx, 4xx), or clean refusals. */
function badAnswersAfter (sigtermAt: number, records: RequestRecord[]): string[] {
  return records
    .filter((record) => record.endedAt > sigtermAt && record.outcome.kind === 'answer' && !realAnswer(record) && !cleanRefusal(record))
    .map(describe)
}

/** Waits until the server logs that it began a request to `path`. */
async function untilBegun (server: ServerProcess, path: string, timeoutMs: number): Promise<void> {
  const needle = `"url":"${path}?req=`
  const deadline = performance.now() + timeoutMs
  while (!server.stdout().includes(needle) && performance.now() < deadline) await sleep(2)
}

async function getJson<T> (url: string): Promise<{ status: number, body: T }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(requestTimeoutMs) })
  return { status: response.status, body: await response.json() as T }
}

t.test('SIGTERM under load: requests in flight are answered, later ones refused, exit 0, nothing acknowledged lost', async (t: Test) => {
  const databaseUrl = await freshDatabaseUrl()
  const { db } = createDatabase({ url: databaseUrl, poolMax: 2 })
  t.teardown(async () => await db.destroy())

  // At info level the server logs each request it begins and completes: the in-flight record.
  const server = await startServerProcess(t, { databaseUrl, env: { ...env, LOG_LEVEL: 'info' } })
  const show = await createShow(server.url, adminToken, totalSeats)
  const ledger = new Ledger()

  const stormStart = performance.now()
  const hardStop = stormStart + 30_000
  const storm = runStorm({ url: server.url, showId: show.id, totalSeats, ledger, loops, stopped: () => performance.now() > hardStop })
  while ((performance.now() - stormStart < 500 || ledger.acknowledged.size < 100) && performance.now() < stormStart + 15_000) await sleep(5)

  const bigShow = ledger.send(server.url, 'other', '/admin/shows', {
    body: { name: 'Big', start_time: new Date(Date.now() + 24 * 3600_000).toISOString(), total_seats: bigShowSeats },
    headers: admin,
    timeoutMs: graceMs
  })
  await untilBegun(server, '/admin/shows', 10_000)
  const sigtermAt = performance.now()
  server.kill('SIGTERM')
  const exit = await server.waitForExit(graceMs)
  const exitedAt = performance.now()
  const [big] = await Promise.all([bigShow, storm])

  const requests = new Map(ledger.requests.map((record) => [record.n, record]))
  const log = readServerLog(server.stdout())
  const failures = ledger.requests.filter((record) => record.outcome.kind === 'failed')
  const inFlight = [...log.begun.values()].filter((request) => request.incoming < log.shutdown && (request.completed ?? Infinity) > log.shutdown)
  t.comment(`SIGTERM ${(sigtermAt - stormStart).toFixed(0)} ms into the storm, with ${inFlight.length} requests in flight at the server; ` +
    `exit after ${(exitedAt - sigtermAt).toFixed(0)} ms; ${ledger.requests.length} requests, ${ledger.acknowledged.size} holds acknowledged, ` +
    `${ledger.requests.filter(cleanRefusal).length} refused with a 503, ` +
    `${failures.length} unanswered (${[...new Set(failures.map((record) => record.outcome.kind === 'failed' ? record.outcome.code : ''))].join(', ')})`)

  t.ok(exit !== undefined, `the process exits within the ${graceMs / 1000} s grace`)
  t.same(exit, { code: 0, signal: null }, 'with code 0')
  t.ok(log.shutdown >= 0, 'the server logged its shutdown')
  t.ok(log.begun.size > 0, 'the server logged the requests it began (with their ?req= number), which the checks below rely on')
  const bigBegun = log.begun.get(big.n)
  t.ok(bigBegun !== undefined && bigBegun.incoming < log.shutdown && (bigBegun.completed ?? Infinity) > log.shutdown,
    'the signal came while the server was creating the big show')
  t.equal(big.outcome.kind === 'answer' && big.outcome.status, 201, 'which it finished and answered 201')
  t.same(listed(badlyEnded(log, requests)), [], 'every request the server began got a whole answer: 2xx or 4xx if begun before the signal, or else a clean refusal')
  t.same(listed(badAnswersAfter(sigtermAt, ledger.requests)), [], 'answers after the signal are real answers, or 503 problems that close the connection')
  t.same(listed(failures.filter((record) => record.outcome.kind === 'failed' && record.outcome.code === 'TIMEOUT').map(describe)), [],
    `no request hangs past ${requestTimeoutMs / 1000} s`)
  t.same(listed(failures.filter((record) => record.startedAt < sigtermAt).map((record) => `sent ${(sigtermAt - record.startedAt).toFixed(1)} ms before the signal, ` +
    `${log.begun.has(record.n) ? 'begun' : 'never begun'} by the server: ${describe(record)}`)), [],
  'every request sent before the signal got a whole answer: none was reset or closed unanswered')
  t.same(listed(ledger.requests.filter((record) => record.startedAt > exitedAt && !refused(record.outcome)).map(describe)), [],
    'requests sent after the exit are refused')
  t.ok(failures.length >= 1, 'the storm saw the server go')
  t.same(listed(log.errors), [], 'the server logged no error')

  const restarted = await startServerProcess(t, { databaseUrl, env: { ...env, LOG_LEVEL: 'warn' } })
  await checkAcknowledged(t, { url: restarted.url, db, showId: show.id, adminToken, ledger, exact: true })
  if (big.outcome.kind === 'answer' && big.outcome.status === 201) {
    const { id } = big.outcome.body as Show
    const { status, body } = await getJson<{ availability: Availability }>(`${restarted.url}/shows/${id}/availability`)
    t.equal(status, 200, 'the big show is there after the restart')
    t.same(body.availability, { total: bigShowSeats, available: bigShowSeats, held: 0, booked: 0 }, 'with all its seats, free')
    const seats = await db.selectFrom('seats').select((eb) => eb.fn.countAll<string>().as('count')).where('show_id', '=', id).executeTakeFirstOrThrow()
    t.equal(Number(seats.count), bigShowSeats, 'every seat row written')
  }
})
