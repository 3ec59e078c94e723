import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import type { Booking } from '../api/index.ts'
import type { App } from '../src/app.ts'
import { ensureDatabase, withClient, withDatabaseName } from '../src/db/database.ts'
import { dbmate } from '../src/db/migrations.ts'
import { createShow, sleep, testApp } from './helpers/app.ts'
import { invariantViolations } from './helpers/invariants.ts'
import { startRestartablePostgres } from './helpers/restartable-postgres.ts'

// Issue 6, "Database outage": PostgreSQL stopped and started again under traffic, and the app's
// connections killed under traffic, with the app built in-process and never restarted.
//
// How this fails when the protection goes:
// - a database error answered as a 500 (say isDatabaseUnavailable stops recognising a code or a
//   pg message): the status checks fail, and so does testApp's response validation, since no
//   route documents a 500;
// - a request that waits instead of answering (a retry loop, a pool wait without
//   connectionTimeoutMillis): the per-request latency bounds fail, or the request is reported hung;
// - a pool that never heals (dead clients handed out again): /ready does not turn 200 in time and
//   the requests after recovery are not all successes;
// - a connection error with no listener to take it (the pool's 'error' listener gone, or a client
//   that is checked out when its connection dies): an unhandled 'error' event, recorded below as
//   a failure instead of the crash it would be in production;
// - a write lost or rolled back across the outage: the acknowledged bookings or the invariants differ.

/**
 * The most any request may take whatever the database does: a connection is waited for at most
 * connectionTimeoutMillis (5 s); the rest is slack for two shared cores.
 */
const worstCaseMs = 6_000
/**
 * A stopped PostgreSQL refuses connections, so a request can know straight away (docs/design.md,
 * Failure timings, has the figures). Anything near connectionTimeoutMillis here means a request
 * waited for nothing.
 */
const promptMs = 1_000
/** After PostgreSQL is up again, /ready must say so within this (in practice its first probe does). */
const recoveryMs = 3_000
/** A request unanswered after this is recorded as hung instead of being waited for. */
const hangMs = 10_000

// An unhandled 'error' event or rejection would end a real server process. Recording it turns
// the crash into a failure that names the error, and lets the rest of the checks run.
const crashes: string[] = []
const recordCrash = (error: unknown): void => {
  const code = (error as { code?: unknown } | undefined)?.code
  crashes.push(`${error instanceof Error ? error.message : String(error)}${code === undefined ? '' : ` (${String(code)})`}`)
}
process.on('uncaughtException', recordCrash)
process.on('unhandledRejection', recordCrash)
t.teardown(() => {
  process.removeListener('uncaughtException', recordCrash)
  process.removeListener('unhandledRejection', recordCrash)
})

const pg = await startRestartablePostgres()
t.teardown(pg.dispose)
await ensureDatabase(pg.url, 'booking')
const databaseUrl = withDatabaseName(pg.url, 'booking')
await dbmate(databaseUrl, ['up'])

type Kind = 'hold' | 'confirm' | 'read' | 'availability' | 'ready' | 'health'

interface Outcome {
  kind: Kind
  startedAt: number
  endedAt: number
  ms: number
  /** 'hung': no answer within hangMs; 'threw': inject itself failed. */
  status: number | 'hung' | 'threw'
  code?: string
  detail?: string
  contentType: string
  retryAfter?: string
}

const successStatus: Record<Kind, number> = { hold: 201, confirm: 200, read: 200, availability: 200, ready: 200, health: 200 }

async function timed (app: App, kind: Kind, options: InjectOptions, outcomes: Outcome[]): Promise<LightMyRequestResponse | undefined> {
  const startedAt = performance.now()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<'hung'>((resolve) => { timer = setTimeout(() => resolve('hung'), hangMs) })
  let response: LightMyRequestResponse | 'hung' | 'threw'
  try {
    response = await Promise.race([app.inject(options), deadline])
  } catch {
    response = 'threw'
  } finally {
    clearTimeout(timer)
  }
  const endedAt = performance.now()
  const outcome: Outcome = { kind, startedAt, endedAt, ms: endedAt - startedAt, status: 'threw', contentType: '' }
  if (typeof response === 'string') {
    outcomes.push({ ...outcome, status: response })
    return undefined
  }
  outcome.status = response.statusCode
  outcome.contentType = String(response.headers['content-type'] ?? '')
  if (response.headers['retry-after'] !== undefined) outcome.retryAfter = String(response.headers['retry-after'])
  if (outcome.contentType.startsWith('application/problem+json')) {
    const { code, detail } = response.json<{ code: string, detail: string }>()
    Object.assign(outcome, { code, detail })
  }
  outcomes.push(outcome)
  return response
}

interface Acknowledged {
  seats: string[]
  status: 'PENDING' | 'CONFIRMED'
  /** A confirm was sent and not acknowledged: it may or may not have been committed. */
  confirmUnsure: boolean
}

interface Traffic {
  outcomes: Outcome[]
  acknowledged: Map<string, Acknowledged>
  stop: () => Promise<void>
}

/**
 * `workers` clients in a loop: hold 1..3 seats (every third with an Idempotency-Key, whose
 * transaction is the multi-statement path), confirm three holds in four, read the booking back,
 * read the availability. Every answer is recorded; only 201 holds and 200 confirms count as acknowledged.
 */
function startTraffic (app: App, showId: string, workers: number): Traffic {
  const outcomes: Outcome[] = []
  const acknowledged = new Map<string, Acknowledged>()
  let running = true
  const worker = async (n: number): Promise<void> => {
    for (let i = 0; running; i++) {
      const headers: Record<string, string> = (n + i) % 3 === 0 ? { 'idempotency-key': randomUUID() } : {}
      const hold = await timed(app, 'hold', { method: 'POST', url: '/bookings', headers, payload: { show_id: showId, quantity: 1 + ((n + i) % 3) } }, outcomes)
      if (hold?.statusCode === 201) {
        const booking = hold.json<Booking>()
        const entry: Acknowledged = { seats: booking.seats, status: 'PENDING', confirmUnsure: false }
        acknowledged.set(booking.id, entry)
        if (i % 4 !== 3) {
          const confirm = await timed(app, 'confirm', { method: 'POST', url: `/bookings/${booking.id}/confirm` }, outcomes)
          if (confirm?.statusCode === 200 && confirm.json<Booking>().status === 'CONFIRMED') entry.status = 'CONFIRMED'
          else entry.confirmUnsure = true
        }
        await timed(app, 'read', { method: 'GET', url: `/bookings/${booking.id}` }, outcomes)
      } else {
        // A client would wait Retry-After; a short pause keeps many samples without spinning.
        await sleep(20)
      }
      await timed(app, 'availability', { method: 'GET', url: `/shows/${showId}/availability` }, outcomes)
    }
  }
  const loops = Array.from({ length: workers }, async (_, n) => await worker(n))
  return {
    outcomes,
    acknowledged,
    stop: async () => {
      running = false
      await Promise.all(loops)
    }
  }
}

const isSuccess = (outcome: Outcome): boolean => outcome.status === successStatus[outcome.kind]

/** A 503 problem a client can act on: the stable code, a Retry-After, and no database message. */
function isUnavailableProblem (outcome: Outcome): boolean {
  return outcome.status === 503 && outcome.code === 'service_unavailable' &&
    outcome.contentType.startsWith('application/problem+json') && /^[1-9]\d*$/.test(outcome.retryAfter ?? '') &&
    !/ECONN|terminat|administrator|shutting down|queryable/i.test(outcome.detail ?? '')
}

/** Answers that are neither a success nor a proper 503 problem, as readable lines. */
function badAnswers (outcomes: Outcome[]): string[] {
  return outcomes.filter((outcome) => !isSuccess(outcome) && !isUnavailableProblem(outcome))
    .map((outcome) => `${outcome.kind} answered ${outcome.status} ${outcome.code ?? ''} "${outcome.detail ?? ''}" (${outcome.contentType}, retry-after ${outcome.retryAfter ?? 'none'}) after ${Math.round(outcome.ms)} ms`)
}

function slowest (outcomes: Outcome[]): number {
  return Math.round(Math.max(0, ...outcomes.map((outcome) => outcome.ms)))
}

function percentile (outcomes: Outcome[], p: number): number {
  const sorted = outcomes.map((outcome) => outcome.ms).sort((a, b) => a - b)
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0)
}

async function waitFor (t: Test, what: string, timeoutMs: number, done: () => boolean): Promise<void> {
  const until = performance.now() + timeoutMs
  while (!done()) {
    if (performance.now() > until) {
      t.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
      return
    }
    await sleep(25)
  }
}

const confirmedCount = (traffic: Traffic): number => [...traffic.acknowledged.values()].filter((entry) => entry.status === 'CONFIRMED').length

/** Every acknowledged booking reads back with the same seats and the status it was acknowledged with. */
async function checkAcknowledged (t: Test, app: App, traffic: Traffic): Promise<void> {
  const mismatches: string[] = []
  for (const [id, expected] of traffic.acknowledged) {
    const response = await app.inject(`/bookings/${id}`)
    if (response.statusCode !== 200) {
      mismatches.push(`${id} answered ${response.statusCode}`)
      continue
    }
    const booking = response.json<Booking>()
    const statusOk = booking.status === expected.status || (expected.confirmUnsure && booking.status === 'CONFIRMED')
    if (!statusOk || booking.seats.join(',') !== expected.seats.join(',')) {
      mismatches.push(`${id}: acknowledged ${expected.status} [${expected.seats.join(',')}], reads ${booking.status} [${booking.seats.join(',')}]`)
    }
  }
  t.same(mismatches, [], `all ${traffic.acknowledged.size} acknowledged bookings are still there, same seats, same status`)
}

async function terminateAppConnections (): Promise<number> {
  return await withClient(pg.url, async (client) => {
    // 'booking-api' is the application_name createPool gives every connection of the app.
    const { rows } = await client.query<{ terminated: boolean }>(
      "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = 'booking-api' AND pid <> pg_backend_pid()")
    return rows.filter((row) => row.terminated).length
  })
}

async function idleAppConnections (): Promise<number> {
  return await withClient(pg.url, async (client) => {
    const { rows: [row] } = await client.query<{ idle: number }>(
      "SELECT count(*)::int AS idle FROM pg_stat_activity WHERE application_name = 'booking-api' AND state = 'idle'")
    return row?.idle ?? 0
  })
}

t.test('PostgreSQL stopped mid-traffic: quick 503s, then the app recovers on its own', async (t) => {
  const { app, db } = await testApp(t, { url: databaseUrl })
  const show = await createShow(app, { total_seats: 20_000 })
  const traffic = startTraffic(app, show.id, 5)
  // Stops the loops even when something below throws (pg.start, say).
  t.teardown(traffic.stop)

  await waitFor(t, '20 confirmed bookings before the outage', 15_000, () => confirmedCount(traffic) >= 20)
  const acknowledgedBefore = traffic.acknowledged.size

  const stopRequestedAt = performance.now()
  await pg.stop()
  const stoppedAt = performance.now()

  const probes: Outcome[] = []
  for (let i = 0; i < 6; i++) {
    await timed(app, 'health', { method: 'GET', url: '/health' }, probes)
    await timed(app, 'ready', { method: 'GET', url: '/ready' }, probes)
    await sleep(250)
  }

  const startRequestedAt = performance.now()
  await pg.start()
  const startedAt = performance.now()
  let readyAt: number | undefined
  while (readyAt === undefined && performance.now() - startedAt < recoveryMs + 2_000) {
    const ready = await app.inject('/ready')
    if (ready.statusCode === 200) readyAt = performance.now()
    else await sleep(50)
  }
  const recoveredAt = readyAt ?? Number.POSITIVE_INFINITY
  const afterRecovery = (): Outcome[] => traffic.outcomes.filter((outcome) => outcome.startedAt >= recoveredAt)
  await waitFor(t, '10 holds and 10 confirms after recovery', 10_000, () =>
    afterRecovery().filter((outcome) => outcome.kind === 'hold' && isSuccess(outcome)).length >= 10 &&
    afterRecovery().filter((outcome) => outcome.kind === 'confirm' && isSuccess(outcome)).length >= 10)
  await traffic.stop()

  const all = traffic.outcomes
  // Started while PostgreSQL was fully down (and answered before it came back).
  const whileDown = all.filter((outcome) => outcome.startedAt >= stoppedAt && outcome.endedAt <= startRequestedAt)
  // In flight when the stop began: these lose their connection half-way.
  const cutOff = all.filter((outcome) => outcome.startedAt < stoppedAt && outcome.endedAt > stopRequestedAt)
  const unavailable = all.filter((outcome) => outcome.status === 503)

  t.same(badAnswers(all), [], 'every answer is a success or a 503 service_unavailable problem with Retry-After: never a 500, never a hang')
  t.ok(slowest(all) <= worstCaseMs, `no request took more than ${worstCaseMs} ms (slowest ${slowest(all)} ms)`)
  t.ok(whileDown.length >= 20, `traffic kept coming while the database was down (${whileDown.length} requests)`)
  t.ok(whileDown.every(isUnavailableProblem), 'every request while the database was down answered 503 service_unavailable')
  t.ok(slowest(whileDown) <= promptMs, `each of them within ${promptMs} ms (p50 ${percentile(whileDown, 0.5)} ms, slowest ${slowest(whileDown)} ms)`)
  // How long these wait is up to PostgreSQL's shutdown, so they are held to answering promptly
  // once it is over, not to a time from their start.
  const lateAfterStop = Math.round(Math.max(0, ...cutOff.map((outcome) => outcome.endedAt - stoppedAt)))
  t.ok(lateAfterStop <= promptMs, `requests cut off by the stop answered within ${promptMs} ms of PostgreSQL being gone (${cutOff.length}, the last ${lateAfterStop} ms after, slowest ${slowest(cutOff)} ms in all)`)

  const health = probes.filter((probe) => probe.kind === 'health')
  const ready = probes.filter((probe) => probe.kind === 'ready')
  t.ok(health.every((probe) => probe.status === 200), '/health stays 200 while the database is down')
  t.same(badAnswers(ready), [], '/ready answers a problem while the database is down')
  t.ok(ready.every(isUnavailableProblem), '/ready is 503 service_unavailable while the database is down')
  t.ok(slowest(probes) <= promptMs, `/health and /ready answer within ${promptMs} ms while down (slowest ${slowest(probes)} ms)`)

  t.ok(readyAt !== undefined && readyAt - startedAt <= recoveryMs,
    `/ready turns 200 within ${recoveryMs} ms of PostgreSQL being up, with no restart of the app (${readyAt === undefined ? 'never' : `${Math.round(readyAt - startedAt)} ms`})`)
  const recovered = afterRecovery()
  t.same(recovered.filter((outcome) => !isSuccess(outcome)).map((outcome) => `${outcome.kind} ${outcome.status} ${outcome.code ?? ''}`), [],
    `every request after recovery succeeds (${recovered.length})`)

  t.same(crashes.splice(0), [], 'no unhandled error event or rejection: the process would have crashed')
  await checkAcknowledged(t, app, traffic)
  t.same(await invariantViolations(db, show.id), [], 'seat and booking invariants hold')
  t.comment(`outage: ${acknowledgedBefore} bookings acknowledged before the stop, ${traffic.acknowledged.size} in all; ` +
    `${unavailable.length} answers 503 (p50 ${percentile(unavailable, 0.5)} ms, p99 ${percentile(unavailable, 0.99)} ms, slowest ${slowest(unavailable)} ms); ` +
    `while down p50 ${percentile(whileDown, 0.5)} ms, slowest ${slowest(whileDown)} ms over ${whileDown.length}; ` +
    `cut off by the stop ${cutOff.length}, slowest ${slowest(cutOff)} ms, the last ${lateAfterStop} ms after the stop; stop took ${Math.round(stoppedAt - stopRequestedAt)} ms, ` +
    `start ${Math.round(startedAt - startRequestedAt)} ms; /ready 200 ${readyAt === undefined ? 'never' : `${Math.round(readyAt - startedAt)} ms`} after start`)
})

t.test('the app\'s connections terminated mid-traffic: at most 503s, no crash, and the pool heals', async (t) => {
  const { app, db } = await testApp(t, { url: databaseUrl })
  const show = await createShow(app, { total_seats: 20_000 })

  // Idle pooled connections first: their error reaches only the pool's 'error' listener, and
  // without one it would be thrown as an unhandled 'error' event.
  await Promise.all(Array.from({ length: 10 }, async () => await app.inject(`/shows/${show.id}/availability`)))
  const idle = await idleAppConnections()
  t.ok(idle >= 1, `the pool holds idle connections (${idle})`)
  t.ok(await terminateAppConnections() >= 1, 'idle connections terminated')
  await sleep(200)
  const afterIdleKill: Outcome[] = []
  for (let i = 0; i < 5; i++) await timed(app, 'availability', { method: 'GET', url: `/shows/${show.id}/availability` }, afterIdleKill)
  t.same(afterIdleKill.filter((outcome) => !isSuccess(outcome)).map((outcome) => outcome.status), [], 'requests after idle connections were killed succeed')

  const traffic = startTraffic(app, show.id, 5)
  t.teardown(traffic.stop)
  await waitFor(t, '10 confirmed bookings before the kills', 15_000, () => confirmedCount(traffic) >= 10)
  const killedAt: number[] = []
  let killed = 0
  for (let i = 0; i < 4; i++) {
    killed += await terminateAppConnections()
    killedAt.push(performance.now())
    await sleep(300)
  }
  const lastKill = killedAt.at(-1) ?? 0
  // Requests that started once the last kill has surely reached every connection's socket.
  const settled = (): Outcome[] => traffic.outcomes.filter((outcome) => outcome.startedAt >= lastKill + 200)
  await waitFor(t, '10 holds and 10 confirms after the kills', 10_000, () =>
    settled().filter((outcome) => outcome.kind === 'hold' && isSuccess(outcome)).length >= 10 &&
    settled().filter((outcome) => outcome.kind === 'confirm' && isSuccess(outcome)).length >= 10)
  await traffic.stop()

  const all = traffic.outcomes
  const unavailable = all.filter((outcome) => outcome.status === 503)
  t.ok(killed >= 4, `the app's connections were terminated under traffic (${killed} in all)`)
  t.same(badAnswers(all), [], 'every answer is a success or a 503 service_unavailable problem with Retry-After: never a 500, never a hang')
  t.ok(slowest(all) <= worstCaseMs, `no request took more than ${worstCaseMs} ms (slowest ${slowest(all)} ms)`)
  t.same(settled().filter((outcome) => !isSuccess(outcome)).map((outcome) => `${outcome.kind} ${outcome.status} ${outcome.code ?? ''}`), [],
    `every request after the kills succeeds without a restart (${settled().length})`)
  t.equal((await app.inject('/ready')).statusCode, 200, '/ready is 200')

  t.same(crashes.splice(0), [], 'no unhandled error event or rejection: the process would have crashed')
  await checkAcknowledged(t, app, traffic)
  t.same(await invariantViolations(db, show.id), [], 'seat and booking invariants hold')
  t.comment(`kills: ${killed} connections terminated over ${killedAt.length} kills; ${all.length} requests, ${unavailable.length} answered 503 ` +
    `(slowest ${slowest(unavailable)} ms); slowest answer ${slowest(all)} ms`)
})
