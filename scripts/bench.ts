/**
 * `make bench`: measures the booking API end to end. It finds a PostgreSQL server the way the tests
 * do, migrates a fresh database, starts the real server as a child process and drives it with
 * autocannon through a flash sale (then again with an Idempotency-Key on every hold), a fill
 * curve, a sell-out and a confirm run, then runs the API's own hold statement through pgbench for
 * the database's ceiling: one hold per statement and transaction, as the API runs it for a lone
 * hold. The API places concurrent holds of one show together in one statement, so it can exceed
 * that ceiling. It prints a table, writes the full results to bench/results/<timestamp>.json, and
 * exits 0 whenever it could measure: a missed target is a finding, not a crash.
 *
 * BENCH_SCALE multiplies seat and request counts (default 1); BENCH_SECONDS is the length of the
 * timed phases (default 10). `BENCH_SCALE=0.01 BENCH_SECONDS=1` is the smoke test's run.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomInt, randomUUID } from 'node:crypto'
import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import autocannon from 'autocannon'
import { sql } from 'kysely'
import { createDatabase, dropDatabase, ensureDatabase, withDatabaseName, type Database } from '../src/db/database.ts'
import { freePort } from '../src/db/embedded.ts'
import { dbmate } from '../src/db/migrations.ts'
import { holdStatement } from '../src/engine/holds.ts'
import { startTestServer } from '../test/helpers/postgres-server.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const resultsDir = path.join(root, 'bench', 'results')
const execFileAsync = promisify(execFile)

function positiveNumber (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, not ${raw}`)
  return value
}

const scale = positiveNumber('BENCH_SCALE', 1)
const seconds = positiveNumber('BENCH_SECONDS', 10)
const scaled = (count: number): number => Math.max(1, Math.round(count * scale))
// The server's hold window, pinned so that the pgbench ceiling runs exactly the API's statement.
const holdSeconds = 120
const adminToken = `bench-${randomBytes(16).toString('hex')}`
// The server's pool, sized to the cores PostgreSQL runs on (it runs here): more connections than
// that only queue inside PostgreSQL, where lock and CPU contention lengthen every statement. The
// contract's default of 20 measured 10 to 20 ms worse at p99. PGPOOL_MAX set in the environment wins.
const poolMax = process.env.PGPOOL_MAX ?? String(os.availableParallelism() * 2 + 2)
// A timed phase stops sending holds at its deadline but waits this long at most for the answers
// still in flight, so that every hold the server made is counted.
const drainLimitSeconds = 30

const targets = {
  ceilingShare: 0.5,
  fillRatio: 0.85,
  p99Ms: 60,
  rssMb: 200,
  // The contract: creating a show of the largest allowed size answers within a second.
  createMs: 1000
}

// ---------------------------------------------------------------------------------------------
// Clean-up: everything started is stopped in reverse order, on success, failure or Ctrl-C.

const cleanups: Array<() => Promise<void>> = []

async function cleanUp (): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) {
    try {
      await step()
    } catch (error) {
      process.stderr.write(`clean-up step failed: ${(error as Error).message}\n`)
    }
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the server and dropping the bench database\n`)
    void cleanUp().finally(() => process.exit(130))
  })
}

const say = (line: string): void => { process.stdout.write(`${line}\n`) }

// ---------------------------------------------------------------------------------------------
// Database and server

async function freshDatabaseUrl (serverUrl: string): Promise<string> {
  const name = `bench_${randomBytes(6).toString('hex')}`
  await ensureDatabase(serverUrl, name)
  cleanups.push(async () => await dropDatabase(serverUrl, name))
  const url = withDatabaseName(serverUrl, name)
  await dbmate(url, ['up'])
  return url
}

interface ApiServer {
  base: string
  pid: number
  /** Lines the server wrote (warnings and worse at LOG_LEVEL=warn), the last 200 of them. */
  log: string[]
  logLines: () => number
}

function childEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  // tap instruments children through these; the server must run as it does in production.
  const { NODE_OPTIONS: _options, NODE_V8_COVERAGE: _coverage, ...env } = process.env
  return { ...env, ...extra }
}

function keepTail (child: ChildProcess, log: string[]): () => number {
  let count = 0
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      count++
      log.push(line)
      if (log.length > 200) log.shift()
    }
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  return () => count
}

async function stopChild (child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}

async function startApi (databaseUrl: string): Promise<ApiServer> {
  const port = await freePort()
  // The same node flags as `make start` (the Makefile passes them), so the footprint measured is the real one.
  const nodeFlags = (process.env.SERVER_NODE_FLAGS ?? '').split(' ').filter(Boolean)
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: childEnv({
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: 'warn',
      PGPOOL_MAX: poolMax,
      // One client address sends everything here; per-client limits would measure the limiter.
      RATE_LIMIT_BOOKINGS_PER_MINUTE: '0',
      RATE_LIMIT_ADMIN_PER_MINUTE: '0',
      HOLD_WINDOW_SECONDS: String(holdSeconds)
    }),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const log: string[] = []
  const logLines = keepTail(child, log)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  cleanups.push(async () => await stopChild(child, exited))
  if (child.pid === undefined) throw new Error('the server process did not start')
  const base = `http://127.0.0.1:${port}`
  await waitUntilReady(base, exited, log)
  return { base, pid: child.pid, log, logLines }
}

async function waitUntilReady (base: string, exited: Promise<void>, log: string[]): Promise<void> {
  let gone = false
  void exited.then(() => { gone = true })
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (gone) throw new Error(`the server exited before it was ready:\n${log.join('\n')}`)
    const status = await fetch(`${base}/ready`).then((response) => response.status, () => 0)
    if (status === 200) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the server was not ready within 60 s:\n${log.join('\n')}`)
}

// ---------------------------------------------------------------------------------------------
// Peak RSS of the server, sampled every 100 ms while load runs

async function rssKb (pid: number): Promise<number | undefined> {
  const status = `/proc/${pid}/status`
  if (existsSync(status)) {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(status, 'utf8'))
    return match === null ? undefined : Number(match[1])
  }
  // No /proc (macOS): ps reports the same resident size in kB.
  const { stdout } = await execFileAsync('ps', ['-o', 'rss=', '-p', String(pid)]).catch(() => ({ stdout: '' }))
  const kb = Number(stdout.trim())
  return stdout.trim() === '' || !Number.isFinite(kb) ? undefined : kb
}

interface RssMeter {
  peakKbByPhase: Record<string, number>
  during: <T>(phase: string, run: () => Promise<T>) => Promise<T>
}

function rssMeter (pid: number): RssMeter {
  const peakKbByPhase: Record<string, number> = {}
  const sample = async (phase: string): Promise<void> => {
    const kb = await rssKb(pid).catch(() => undefined)
    if (kb !== undefined) peakKbByPhase[phase] = Math.max(peakKbByPhase[phase] ?? 0, kb)
  }
  return {
    peakKbByPhase,
    during: async (phase, run) => {
      await sample(phase)
      const timer = setInterval(() => { void sample(phase) }, 100)
      try {
        return await run()
      } finally {
        clearInterval(timer)
        await sample(phase)
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers for setting up and checking (not for load: that is autocannon's)

async function call<T> (base: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number, json: T }> {
  const headers: Record<string, string> = { authorization: `Bearer ${adminToken}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(`${base}${urlPath}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: response.status, json: await response.json() as T }
}

async function createShow (base: string, name: string, totalSeats: number): Promise<string> {
  const startTime = new Date(Date.now() + 86_400_000).toISOString()
  const { status, json } = await call<{ id: string }>(base, 'POST', '/admin/shows', { name, start_time: startTime, total_seats: totalSeats })
  if (status !== 201) throw new Error(`creating show "${name}" answered ${status}: ${JSON.stringify(json)}`)
  return json.id
}

interface Availability { total: number, available: number, held: number, booked: number }

async function availability (base: string, showId: string): Promise<Availability> {
  const { status, json } = await call<{ availability: Availability }>(base, 'GET', `/shows/${showId}/availability`)
  if (status !== 200) throw new Error(`availability of ${showId} answered ${status}: ${JSON.stringify(json)}`)
  return json.availability
}

// ---------------------------------------------------------------------------------------------
// Load through autocannon

interface Outgoing { method: 'GET' | 'POST', path: string, body?: unknown, headers?: Record<string, string> }

interface Answer<T> { status: number, body: string, code: string | undefined, tag: T, atMs: number }

interface LoadOptions<T> {
  connections: number
  /** Exactly this many requests... */
  amount?: number
  /** ...or as many as fit in this many seconds. */
  seconds?: number
  next: () => { out: Outgoing, tag: T }
  answered?: (answer: Answer<T>) => void
}

interface LoadResult {
  connections: number
  requests: number
  /** First request sent to last answer received. */
  seconds: number
  ok: number
  okPerSecond: number
  /** Latency of 2xx answers. */
  latencyMs: { p50: number, p99: number, max: number }
  non2xx: number
  errors: number
  timeouts: number
  /** Answers by status and problem code, e.g. `201` or `409 insufficient_seats`. */
  statuses: Record<string, number>
}

interface Slot { tag?: unknown, drain?: boolean }

function problemCode (body: string): string | undefined {
  try {
    const code = (JSON.parse(body) as { code?: unknown }).code
    return typeof code === 'string' ? code : undefined
  } catch {
    return undefined
  }
}

function asRequest (request: autocannon.Request, out: Outgoing): autocannon.Request {
  const body = out.body === undefined ? undefined : JSON.stringify(out.body)
  return { ...request, method: out.method, path: out.path, body, headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...out.headers } }
}

/**
 * Runs autocannon with one request template that `next` fills in, one request at a time per
 * connection (so a connection's context belongs to its one request in flight). A timed run stops
 * sending holds at its deadline and then sends only cheap 404s until every hold in flight has its
 * answer: autocannon would otherwise drop those answers, and holds the server made would go
 * uncounted.
 */
async function load<T> (base: string, options: LoadOptions<T>): Promise<LoadResult> {
  // The load generator's own garbage from the last phase is collected now rather than during this
  // one (with `make bench`, which runs this script with --expose-gc). A fill-curve phase lasts
  // under half a second; in one run its last phase took 0.47 s instead of 0.40 with no slower
  // request (p99 17 ms), which is time the generator spent between requests.
  globalThis.gc?.()
  const connections = options.amount === undefined ? options.connections : Math.min(options.connections, options.amount)
  const statuses: Record<string, number> = {}
  let inFlight = 0
  let draining = false
  let lastAnswerMs = 0
  let stop = (): void => {}
  const stopWhenDrained = (): void => { if (draining && inFlight <= 0) stop() }
  const startedAt = performance.now()

  const request: autocannon.Request = {
    setupRequest: (template, context) => {
      const slot = context as Slot
      if (draining) {
        slot.drain = true
        return asRequest(template, { method: 'GET', path: '/bench-drain' })
      }
      const { out, tag } = options.next()
      slot.tag = tag
      inFlight++
      return asRequest(template, out)
    },
    onResponse: (status, body, context) => {
      const slot = context as Slot
      if (slot.drain === true) return
      inFlight--
      lastAnswerMs = performance.now() - startedAt
      const code = status >= 400 ? problemCode(body) : undefined
      const key = code === undefined ? String(status) : `${status} ${code}`
      statuses[key] = (statuses[key] ?? 0) + 1
      options.answered?.({ status, body, code, tag: slot.tag as T, atMs: lastAnswerMs })
      stopWhenDrained()
    }
  }

  let settle: (error: unknown, result?: autocannon.Result) => void = () => {}
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    settle = (error, result) => { if (error !== null && error !== undefined) reject(error); else resolve(result!) }
  })
  const instance = autocannon({
    url: base,
    connections,
    ...(options.amount === undefined ? { duration: (options.seconds ?? 10) + drainLimitSeconds } : { amount: options.amount }),
    // Results are taken at autocannon's next sample tick; the default 1 s would idle that long.
    sampleInt: 100,
    // Latencies of 2xx answers only: drains and refusals are not what is measured.
    excludeErrorStats: true,
    requests: [request]
  }, (error, result) => settle(error, result))
  stop = () => instance.stop()
  // A failed request never gets an answer; it is no longer in flight either.
  instance.on('reqError', () => { inFlight--; stopWhenDrained() })
  const deadline = options.seconds === undefined || options.amount !== undefined
    ? undefined
    : setTimeout(() => { draining = true; stopWhenDrained() }, options.seconds * 1000)

  let result: autocannon.Result
  try {
    result = await finished
  } finally {
    clearTimeout(deadline)
  }
  const answered = Object.values(statuses).reduce((sum, count) => sum + count, 0)
  const ok = Object.entries(statuses).filter(([key]) => key.startsWith('2')).reduce((sum, [, count]) => sum + count, 0)
  const elapsed = lastAnswerMs / 1000
  return {
    connections,
    requests: answered,
    seconds: round(elapsed, 3),
    ok,
    okPerSecond: elapsed > 0 ? round(ok / elapsed, 1) : 0,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    non2xx: answered - ok,
    errors: result.errors,
    timeouts: result.timeouts,
    statuses
  }
}

const holdOf = (showId: string, quantity: number): Outgoing => ({ method: 'POST', path: '/bookings', body: { show_id: showId, quantity } })

function round (value: number, digits = 1): number {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

// ---------------------------------------------------------------------------------------------
// The hold statement's plan

interface HoldPlan {
  free: 'index order' | 'sorts every free seat'
  taken: 'seat by key' | 'reads every seat'
}

/** The API's hold statement as it runs for one hold of 2 seats, the flash sale's request. */
const singleHold = (db: Database, showId: string) => holdStatement(showId, [2], holdSeconds, false).compile(db)

/** A statement parameter as PostgreSQL reads it in text form: arrays as {a,b}. */
const textOf = (value: unknown): string => Array.isArray(value) ? `{${value.join(',')}}` : String(value)

/**
 * How the planner runs the API's hold statement for this show now. A hold is cheap only when
 * `free` reads seats_free_idx in seat order and `taken` finds each seat by its key; with missing or
 * stale statistics (no ANALYZE since the show was created) it may instead sort every free seat of
 * the show (LockRows keeps the sort from being a bounded top-N) or walk every seat of the show, and
 * each hold then costs milliseconds per thousand seats. Recorded so that a slow figure can be told
 * apart from a slow plan. It is the generic plan, made without knowing the show, which is what the
 * server runs after a statement's first few runs on a connection (the seat total is a subquery for
 * that; see holdStatement in src/engine/holds.ts).
 */
async function holdPlan (db: Database, showId: string): Promise<HoldPlan> {
  const compiled = singleHold(db, showId)
  const args = sql.join(compiled.parameters.map((value) => sql.lit(textOf(value))))
  const rows = await db.transaction().execute(async (trx) => {
    await sql`SET LOCAL plan_cache_mode = force_generic_plan`.execute(trx)
    await sql`PREPARE bench_hold AS ${sql.raw(compiled.sql)}`.execute(trx)
    const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN EXECUTE bench_hold(${args})`.execute(trx)
    await sql`DEALLOCATE bench_hold`.execute(trx)
    return rows
  })
  const plan = rows.map((row) => row['QUERY PLAN']).join('\n')
  const cte = (name: string): string => plan.split(/\n\s*CTE /).find((part) => part.startsWith(`${name}\n`)) ?? ''
  return {
    free: /Sort Key/.test(cte('free')) ? 'sorts every free seat' : 'index order',
    taken: /Index Cond: .*seat_no = /.test(cte('taken')) ? 'seat by key' : 'reads every seat'
  }
}

const planText = (plan: HoldPlan): string => plan.free === 'index order' && plan.taken === 'seat by key' ? 'fast' : `${plan.free}, ${plan.taken}`

async function withPlans<T> (bench: Bench, showId: string, run: () => Promise<T>): Promise<{ plan: { start: HoldPlan, end: HoldPlan }, result: T }> {
  const start = await holdPlan(bench.db, showId)
  const result = await run()
  return { plan: { start, end: await holdPlan(bench.db, showId) }, result }
}

// ---------------------------------------------------------------------------------------------
// Phases

interface Bench { base: string, db: Database, databaseUrl: string, rss: RssMeter }

async function flashSaleChecks (bench: Bench, showId: string, seats: number, created: number) {
  const { rows: [doubled] } = await sql<{ seats: number }>`
    SELECT count(*)::int AS seats FROM (
      SELECT bs.seat_no FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
      WHERE bs.show_id = ${showId}
        AND (b.status = 'CONFIRMED' OR (b.status = 'PENDING' AND b.hold_expires_at > now()))
      GROUP BY bs.seat_no HAVING count(*) > 1
    ) AS twice`.execute(bench.db)
  const { rows: [held] } = await sql<{ seats: number }>`
    SELECT count(*)::int AS seats FROM seats WHERE show_id = ${showId} AND hold_expires_at > now()`.execute(bench.db)
  const { rows: [keys] } = await sql<{ recorded: number }>`
    SELECT count(*)::int AS recorded FROM idempotency_keys WHERE outcome -> 'booking' ->> 'show_id' = ${showId}`.execute(bench.db)
  const counts = await availability(bench.base, showId)
  const seatsInTwoLiveBookings = doubled?.seats ?? -1
  const heldSeats = held?.seats ?? -1
  return {
    seatsInTwoLiveBookings,
    heldSeats,
    expectedHeldSeats: 2 * created,
    keysRecorded: keys?.recorded ?? -1,
    availability: counts,
    ok: {
      noSeatInTwoLiveBookings: seatsInTwoLiveBookings === 0,
      heldSeatsMatch201s: heldSeats === 2 * created,
      availabilityAddsUp: counts.available + counts.held + counts.booked === counts.total && counts.total === seats
    }
  }
}

/**
 * A server in production has its connections open, its statements prepared and its code compiled
 * by the time sales open; a measurement that starts cold reports the first second's warm-up as
 * tail latency. Two seconds of holds on another show, not measured, put the server in that state.
 */
async function warmUp (bench: Bench): Promise<void> {
  const warmSeconds = Math.min(2, seconds)
  const showId = await createShow(bench.base, 'bench: warm-up', scaled(20_000))
  say(`› warm-up: ${warmSeconds} s of holds on another show, not measured`)
  await load(bench.base, { connections: 64, seconds: warmSeconds, next: () => ({ out: holdOf(showId, 2), tag: undefined }) })
}

/** The server's count of hold statements and of the holds they placed (booking_hold_statement_holds). */
async function holdStatements (base: string): Promise<{ count: number, holds: number }> {
  const text = await (await fetch(`${base}/metrics`)).text()
  const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0)
  return { count: value('booking_hold_statement_holds_count'), holds: value('booking_hold_statement_holds_sum') }
}

/**
 * The flash sale. `keyed` sends every hold with an Idempotency-Key of its own, as the README's
 * client does so that it can retry safely: the same sale on a show of its own.
 */
async function flashSale (bench: Bench, keyed: boolean) {
  const seats = scaled(100_000)
  const phase = keyed ? 'flash sale, keyed' : 'flash sale'
  const creating = performance.now()
  const showId = await createShow(bench.base, `bench: ${phase}`, seats)
  const createMs = Math.round(performance.now() - creating)
  say(`› ${phase}: ${seats} seats, 64 connections holding 2 seats each for ${seconds} s${keyed ? ', each hold with an Idempotency-Key' : ''}`)
  const hold = (): Outgoing => keyed ? { ...holdOf(showId, 2), headers: { 'idempotency-key': randomUUID() } } : holdOf(showId, 2)
  const statementsBefore = await holdStatements(bench.base)
  // A server that holds 5,000 times a second sells the show out within the 10 s. Holds per second
  // are counted up to the last 201, so that the quick 409s after a sell-out do not dilute them,
  // and the table says when that was.
  let lastHeldMs = 0
  const { plan, result } = await withPlans(bench, showId, async () => await bench.rss.during(phase, async () => await load(bench.base, {
    connections: 64,
    seconds,
    next: () => ({ out: hold(), tag: undefined }),
    answered: ({ status, atMs }) => { if (status === 201) lastHeldMs = atMs }
  })))
  const statementsAfter = await holdStatements(bench.base)
  const statements = statementsAfter.count - statementsBefore.count
  const holdsPerStatement = statements > 0 ? round((statementsAfter.holds - statementsBefore.holds) / statements, 1) : 0
  const created = result.statuses['201'] ?? 0
  const holdsPerSecond = lastHeldMs > 0 ? round(created / (lastHeldMs / 1000), 1) : 0
  return { phase, keyed, seats, createMs, showId, holds: created, holdsPerSecond, holdsPerStatement, lastHeldSeconds: round(lastHeldMs / 1000, 2), ...result, plan, invariants: await flashSaleChecks(bench, showId, seats, created) }
}

async function fillCurve (bench: Bench) {
  const holdsPerPhase = scaled(2_000)
  const seats = holdsPerPhase * 2 * 5
  const showId = await createShow(bench.base, 'bench: fill curve', seats)
  say(`› fill curve: ${seats} seats in five phases of ${holdsPerPhase} holds, 32 connections`)
  const phases: Array<LoadResult & { phase: number, holdsPerSecond: number }> = []
  const { plan } = await withPlans(bench, showId, async () => {
    for (let phase = 1; phase <= 5; phase++) {
      const result = await bench.rss.during('fill curve', async () => await load(bench.base, {
        connections: 32,
        amount: holdsPerPhase,
        next: () => ({ out: holdOf(showId, 2), tag: undefined })
      }))
      phases.push({ phase, holdsPerSecond: result.okPerSecond, ...result })
    }
  })
  const first = phases[0]?.holdsPerSecond ?? 0
  const last = phases[phases.length - 1]?.holdsPerSecond ?? 0
  return { seats, showId, holdsPerPhase, plan, phases, lastToFirst: first > 0 ? round(last / first, 3) : 0, free: (await availability(bench.base, showId)).available }
}

async function sellOut (bench: Bench) {
  const seats = scaled(1_000)
  const requests = scaled(4_000)
  const showId = await createShow(bench.base, 'bench: sell-out', seats)
  say(`› sell-out: ${seats} seats, ${requests} holds of 1-4 seats, 64 connections`)
  const answers: Array<Answer<number>> = []
  const { plan, result } = await withPlans(bench, showId, async () => await bench.rss.during('sell-out', async () => await load<number>(bench.base, {
    connections: 64,
    amount: requests,
    next: () => {
      const quantity = randomInt(1, 5)
      return { out: holdOf(showId, quantity), tag: quantity }
    },
    answered: (answer) => { answers.push({ ...answer, body: '' }) }
  })))
  const counts = await availability(bench.base, showId)
  const holds = answers.filter((answer) => answer.status === 201)
  const seatsHeld = holds.reduce((sum, answer) => sum + answer.tag, 0)
  const refusals = answers.filter((answer) => answer.status === 409 && answer.code === 'insufficient_seats')
  // Seats only ever leave the pool here (no cancels, no lapses), so a seat free at the end was free
  // all along: a refusal that asked for no more than that was a false "sold out".
  const falseSoldOut = refusals.filter((answer) => answer.tag <= counts.available).length
  const unexpected = answers.filter((answer) => answer.status !== 201 && answer.status !== 409).length
  // A 409 other than insufficient_seats (sales_closed, say) would be as wrong here as a 500.
  const otherConflicts = answers.filter((answer) => answer.status === 409 && answer.code !== 'insufficient_seats').length
  return {
    seats,
    showId,
    requests,
    soldOutAfterMs: round(Math.max(0, ...holds.map((answer) => answer.atMs)), 1),
    holds: holds.length,
    seatsHeld,
    insufficientSeats: refusals.length,
    freeAtEnd: counts.available,
    falseSoldOut,
    errors: unexpected + result.errors,
    otherConflicts,
    seatsAddUp: seatsHeld === seats - counts.available,
    plan,
    load: result
  }
}

async function confirmRun (bench: Bench) {
  const holds = scaled(5_000)
  const showId = await createShow(bench.base, 'bench: confirm', holds * 2)
  say(`› confirm: ${holds} holds of 2 seats, then confirming them all at 64 connections`)
  const ids: string[] = []
  const { plan, result: holding } = await withPlans(bench, showId, async () => await bench.rss.during('confirm', async () => await load(bench.base, {
    connections: 64,
    amount: holds,
    next: () => ({ out: holdOf(showId, 2), tag: undefined }),
    answered: ({ status, body }) => { if (status === 201) ids.push((JSON.parse(body) as { id: string }).id) }
  })))
  let next = 0
  const confirming = ids.length === 0
    ? undefined
    : await bench.rss.during('confirm', async () => await load(bench.base, {
      connections: 64,
      amount: ids.length,
      next: () => ({ out: { method: 'POST', path: `/bookings/${ids[next++ % ids.length]}/confirm` }, tag: undefined })
    }))
  const { rows: [confirmed] } = await sql<{ bookings: number }>`
    SELECT count(*)::int AS bookings FROM bookings WHERE show_id = ${showId} AND status = 'CONFIRMED'`.execute(bench.db)
  return {
    showId,
    holds: ids.length,
    confirmsPerSecond: confirming?.okPerSecond ?? 0,
    p99Ms: confirming?.latencyMs.p99 ?? 0,
    confirmedInDatabase: confirmed?.bookings ?? 0,
    plan,
    holding,
    confirming
  }
}

// ---------------------------------------------------------------------------------------------
// The ceiling: the API's fast-pass hold statement, straight through pgbench

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
  const seats = scaled(100_000)
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
    const { plan, result: { stdout } } = await withPlans(bench, showId, async () => await execFileAsync(pgbench, args, { maxBuffer: 16 * 1024 * 1024 }))
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
async function ceiling (bench: Bench): Promise<Awaited<ReturnType<typeof runPgbench>> | { skipped: string }> {
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

// ---------------------------------------------------------------------------------------------
// Report

interface Row { phase: string, metric: string, value: string, target: string, pass?: boolean }

type Results = Awaited<ReturnType<typeof measure>>

const yes = (ok: boolean): string => ok ? 'yes' : 'no'

function planRow (phase: string, plan: { start: HoldPlan, end: HoldPlan }): Row {
  const [start, end] = [planText(plan.start), planText(plan.end)]
  return { phase, metric: 'hold plan (start -> end)', value: start === end ? start : `${start} -> ${end}`, target: '' }
}

type FlashSale = Results['flashSale']

/** The issue's targets are for the flash sale as it specifies it; the keyed one is measured beside it. */
function flashRows (flash: FlashSale, top: Results['ceiling']): Row[] {
  const { phase } = flash
  const targeted = !flash.keyed
  const aim = (target: string, pass: boolean): Pick<Row, 'target' | 'pass'> => targeted ? { target, pass } : { target: '' }
  const share = 'skipped' in top || top.holdsPerSecond === 0 ? undefined : flash.holdsPerSecond / top.holdsPerSecond
  const checks = flash.invariants
  return [
    ...(targeted ? [{ phase, metric: `create the show of ${flash.seats} seats (ms)`, value: String(flash.createMs), target: `<= ${targets.createMs}`, pass: flash.createMs <= targets.createMs }] : []),
    { phase, metric: 'holds/s (201s per second, to the last)', value: String(flash.holdsPerSecond), target: '' },
    share === undefined
      ? { phase, metric: 'share of pgbench ceiling', value: 'skipped', target: targeted ? `>= ${targets.ceilingShare * 100} %` : '' }
      : { phase, metric: 'share of pgbench ceiling', value: `${round(share * 100)} %`, ...aim(`>= ${targets.ceilingShare * 100} %`, share >= targets.ceilingShare) },
    { phase, metric: 'holds per hold statement (mean)', value: String(flash.holdsPerStatement), target: '' },
    { phase, metric: 'p50 latency (ms)', value: String(flash.latencyMs.p50), target: '' },
    { phase, metric: 'p99 latency (ms)', value: String(flash.latencyMs.p99), ...aim(`<= ${targets.p99Ms}`, flash.latencyMs.p99 <= targets.p99Ms) },
    { phase, metric: '201s / non-2xx / errors', value: `${flash.holds} / ${flash.non2xx} / ${flash.errors}`, target: '' },
    {
      phase,
      metric: 'seats free at the end',
      value: checks.availability.available === 0 ? `0 (last 201 at ${flash.lastHeldSeconds} s)` : String(checks.availability.available),
      target: ''
    },
    planRow(phase, flash.plan),
    { phase, metric: 'seats in two live bookings', value: String(checks.seatsInTwoLiveBookings), target: '0', pass: checks.ok.noSeatInTwoLiveBookings },
    { phase, metric: 'held seats = 2 x 201s', value: `${checks.heldSeats} vs ${checks.expectedHeldSeats}`, target: 'equal', pass: checks.ok.heldSeatsMatch201s },
    { phase, metric: 'availability adds up', value: yes(checks.ok.availabilityAddsUp), target: 'yes', pass: checks.ok.availabilityAddsUp },
    ...(flash.keyed ? [{ phase, metric: 'keys recording their booking = 201s', value: `${checks.keysRecorded} vs ${flash.holds}`, target: 'equal', pass: checks.keysRecorded === flash.holds }] : [])
  ]
}

function fillRows (results: Results): Row[] {
  const fill = results.fillCurve
  return [
    ...fill.phases.map((phase) => ({ phase: 'fill curve', metric: `phase ${phase.phase} holds/s`, value: String(phase.holdsPerSecond), target: '' })),
    { phase: 'fill curve', metric: 'last / first', value: String(fill.lastToFirst), target: `>= ${targets.fillRatio}`, pass: fill.lastToFirst >= targets.fillRatio },
    planRow('fill curve', fill.plan)
  ]
}

function sellOutRows (results: Results): Row[] {
  const sale = results.sellOut
  return [
    { phase: 'sell-out', metric: 'time to sold out (ms, last 201)', value: String(sale.soldOutAfterMs), target: '' },
    { phase: 'sell-out', metric: '201s / 409 insufficient / free at end', value: `${sale.holds} / ${sale.insufficientSeats} / ${sale.freeAtEnd}`, target: '' },
    { phase: 'sell-out', metric: 'false sold-outs', value: String(sale.falseSoldOut), target: '0', pass: sale.falseSoldOut === 0 },
    { phase: 'sell-out', metric: 'errors (non-201/409 + 409 other)', value: `${sale.errors} + ${sale.otherConflicts}`, target: '0', pass: sale.errors === 0 && sale.otherConflicts === 0 },
    { phase: 'sell-out', metric: 'seats held = seats - free', value: yes(sale.seatsAddUp), target: 'yes', pass: sale.seatsAddUp },
    planRow('sell-out', sale.plan)
  ]
}

function confirmRows (results: Results): Row[] {
  const run = results.confirm
  return [
    { phase: 'confirm', metric: 'confirms/s', value: String(run.confirmsPerSecond), target: '' },
    { phase: 'confirm', metric: 'p99 latency (ms)', value: String(run.p99Ms), target: '' },
    { phase: 'confirm', metric: 'confirmed in database / holds', value: `${run.confirmedInDatabase} / ${run.holds}`, target: '' },
    planRow('confirm (holds)', run.plan)
  ]
}

function ceilingRows (results: Results): Row[] {
  const top = results.ceiling
  if ('skipped' in top) return [{ phase: 'ceiling', metric: 'pgbench', value: `skipped: ${top.skipped}`, target: '' }]
  return [
    { phase: 'ceiling', metric: `pgbench holds/s (${top.clients} clients)`, value: String(top.holdsPerSecond), target: '' },
    { phase: 'ceiling', metric: 'pgbench tps / holds / statements', value: `${top.tps} / ${top.holds} / ${top.transactions}`, target: '' },
    planRow('ceiling', top.plan)
  ]
}

function serverRows (results: Results): Row[] {
  const { peakRssMb, logLines } = results.server
  return [
    { phase: 'server', metric: 'peak RSS (MB)', value: String(peakRssMb), target: `<= ${targets.rssMb}`, pass: peakRssMb <= targets.rssMb },
    { phase: 'server', metric: 'log lines at warn or worse', value: String(logLines), target: '' }
  ]
}

function tableRows (results: Results): Row[] {
  return [...flashRows(results.flashSale, results.ceiling), ...flashRows(results.keyedFlashSale, results.ceiling), ...fillRows(results), ...sellOutRows(results), ...confirmRows(results), ...ceilingRows(results), ...serverRows(results)]
}

function printTable (rows: Row[]): void {
  const cells = rows.map((row) => [row.phase, row.metric, row.value, row.target, row.pass === undefined ? '' : row.pass ? 'pass' : 'MISS'])
  const header = ['phase', 'metric', 'value', 'target', 'pass/fail']
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((cell) => cell[column]!.length)))
  const line = (cell: string[]): string => cell.map((text, column) => text.padEnd(widths[column]!)).join('  ').trimEnd()
  say('')
  say(line(header))
  say(widths.map((width) => '-'.repeat(width)).join('  '))
  for (const cell of cells) say(line(cell))
  say('')
  const missed = rows.filter((row) => row.pass === false)
  say(missed.length === 0
    ? 'All targets met.'
    : `MISSED ${missed.length}: ${missed.map((row) => `${row.phase} ${row.metric} (${row.value}, target ${row.target})`).join('; ')}`)
  const slow = rows.filter((row) => row.metric.startsWith('hold plan') && row.value !== 'fast')
  if (slow.length > 0) {
    say(`Slow hold plan in: ${slow.map((row) => row.phase).join(', ')}. The planner lacked fresh statistics for the show; those figures measure that plan.`)
  }
}

// ---------------------------------------------------------------------------------------------

async function measure () {
  const startedAt = new Date()
  const server = await startTestServer()
  cleanups.push(server.stop)
  say(`# bench: PostgreSQL from ${server.source}, BENCH_SCALE=${scale}, BENCH_SECONDS=${seconds}, server PGPOOL_MAX=${poolMax}`)
  const databaseUrl = await freshDatabaseUrl(server.url)
  const { db } = createDatabase({ url: databaseUrl, poolMax: 4, applicationName: 'booking-bench' })
  cleanups.push(async () => await db.destroy())
  const api = await startApi(databaseUrl)
  const bench: Bench = { base: api.base, db, databaseUrl, rss: rssMeter(api.pid) }

  await warmUp(bench)
  const flash = await flashSale(bench, false)
  const keyedFlash = await flashSale(bench, true)
  const fill = await fillCurve(bench)
  const sale = await sellOut(bench)
  const confirm = await confirmRun(bench)
  const top = await ceiling(bench)
  const peakKb = Math.max(0, ...Object.values(bench.rss.peakKbByPhase))
  const { rows: [version] } = await sql<{ server_version: string }>`SHOW server_version`.execute(db)
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    settings: { scale, seconds, holdSeconds, poolMax: Number(poolMax), targets },
    environment: {
      databaseSource: server.source,
      postgres: version?.server_version,
      node: process.version,
      cpus: os.cpus().length,
      platform: `${os.platform()} ${os.release()}`
    },
    flashSale: flash,
    keyedFlashSale: keyedFlash,
    fillCurve: fill,
    sellOut: sale,
    confirm,
    ceiling: top,
    server: {
      peakRssMb: round(peakKb / 1024, 1),
      peakRssMbByPhase: Object.fromEntries(Object.entries(bench.rss.peakKbByPhase).map(([phase, kb]) => [phase, round(kb / 1024, 1)])),
      logLines: api.logLines(),
      logTail: api.log.slice(-20)
    }
  }
}

async function main (): Promise<void> {
  try {
    const results = await measure()
    const rows = tableRows(results)
    printTable(rows)
    const tail = results.server.logTail
    if (tail.length > 0) say(`\nThe server logged ${results.server.logLines} lines; the last of them:\n${tail.slice(-5).join('\n')}`)
    await mkdir(resultsDir, { recursive: true })
    const file = path.join(resultsDir, `${results.startedAt.replaceAll(':', '-')}.json`)
    await writeFile(file, `${JSON.stringify({ ...results, rows }, null, 2)}\n`)
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
