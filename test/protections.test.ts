import { sql } from 'kysely'
import { Writable } from 'node:stream'
import pg from 'pg'
import t, { type Test } from 'tap'
import { buildApp } from '../src/app.ts'
import { createDatabase } from '../src/db/database.ts'
import { loggerOptions } from '../src/logger-options.ts'
import { admin, createShow, hold, sleep, testApp } from './helpers/app.ts'
import { keepBookingsOut } from './helpers/database.ts'

const problemType = /^application\/problem\+json/

t.test('POST /bookings and the admin API are rate limited per client with 429 and Retry-After', async (t) => {
  const { app } = await testApp(t, { http: { rateLimits: { bookingsPerMinute: 3, adminPerMinute: 2 } } })
  const show = await createShow(app, { total_seats: 100 })
  // createShow used one of the two admin calls of 127.0.0.1 this minute.

  for (let i = 0; i < 3; i++) t.equal((await hold(app, { show_id: show.id, quantity: 1 })).statusCode, 201)
  const limited = await hold(app, { show_id: show.id, quantity: 1 })
  t.equal(limited.statusCode, 429)
  t.match(limited.headers['content-type'], problemType)
  t.match(limited.json(), { status: 429, code: 'rate_limited' })
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After says when to come back')

  const elsewhere = await app.inject({ method: 'POST', url: '/bookings', payload: { show_id: show.id, quantity: 1 }, remoteAddress: '10.1.2.3' })
  t.equal(elsewhere.statusCode, 201, 'another client has its own allowance')
  t.equal((await app.inject(`/shows/${show.id}/availability`)).statusCode, 200, 'reads are not limited')

  t.equal((await app.inject({ url: '/admin/shows', headers: admin })).statusCode, 200)
  const guess = await app.inject({ url: '/admin/shows', headers: { authorization: 'Bearer guess-guess-guess-guess' } })
  t.equal(guess.statusCode, 429, 'wrong tokens count against the limit too, so tokens cannot be guessed at speed')
  t.match(guess.json(), { code: 'rate_limited' })
})

/** A seat row locked by another session, so that a hold by its label waits while holding a pooled connection. */
async function lockSeat (t: Test, url: string, showId: string, label: string): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query('BEGIN')
  await client.query('SELECT 1 FROM seats WHERE show_id = $1 AND label = $2 FOR UPDATE', [showId, label])
  let released = false
  const release = async (): Promise<void> => {
    if (released) return
    released = true
    await client.query('ROLLBACK')
    await client.end()
  }
  t.teardown(release)
  return release
}

t.test('a queue for database connections past OVERLOAD_MAX_QUEUE is shed at once with 503 overloaded', async (t) => {
  const { app, url } = await testApp(t, { poolMax: 1, http: { loadShedding: { maxQueue: 2, maxHoldWaitMs: 0, maxEventLoopDelayMs: 0 } } })
  const show = await createShow(app, { total_seats: 10 })
  const release = await lockSeat(t, url, show.id, '1')

  // The one connection waits on the locked seat; the rest queue behind it.
  const queued = Array.from({ length: 6 }, async (_, i) => await hold(app, { show_id: show.id, seats: [i === 0 ? '1' : String(i + 1)] }))
  await sleep(400)
  const started = performance.now()
  const shed = await hold(app, { show_id: show.id, quantity: 1 })
  const waited = performance.now() - started
  t.equal(shed.statusCode, 503)
  t.match(shed.headers['content-type'], problemType)
  t.match(shed.json(), { status: 503, code: 'overloaded' })
  t.equal(shed.headers['retry-after'], '1')
  t.ok(waited < 200, `answered at once (${Math.round(waited)} ms), not after queueing`)
  t.equal((await app.inject('/health')).statusCode, 200, 'health checks are never shed')

  await release()
  const statuses = (await Promise.all(queued)).map((response) => response.statusCode)
  t.same(statuses, [201, 201, 201, 201, 201, 201], 'the requests already queued are served')
  await sleep(300)
  t.equal((await hold(app, { show_id: show.id, quantity: 1 })).statusCode, 201, 'served again once the queue is gone')
})

t.test('holds waiting for their show\'s next statement are shed by how long they waited, not how many wait', async (t) => {
  // Enough connections for everyone: the queue that grows is the show's, not the pool's. The
  // defaults: 200 for the pool's queue, one second for a hold's wait.
  const { app, url } = await testApp(t, { poolMax: 10, http: { loadShedding: { maxQueue: 200, maxHoldWaitMs: 1000, maxEventLoopDelayMs: 0 } } })
  const show = await createShow(app, { total_seats: 1000 })
  const release = await keepBookingsOut(t, url)
  // A flash sale's crowd: far more holds waiting than the pool's queue allows, for a moment.
  const crowd = Array.from({ length: 400 }, async () => await hold(app, { show_id: show.id, quantity: 1 }))
  await sleep(400)
  const latecomer = hold(app, { show_id: show.id, quantity: 1 })
  await sleep(200)
  await release()
  const statuses = (await Promise.all([...crowd, latecomer])).map((response) => response.statusCode)
  t.same(statuses, Array(401).fill(201), 'a crowd of holds that waited under a second is served, the latecomer too')

  // A database that stops taking holds: once the oldest waiting hold has waited a second, shed.
  const stalled = await keepBookingsOut(t, url)
  const stuck = Array.from({ length: 3 }, async () => await hold(app, { show_id: show.id, quantity: 1 }))
  await sleep(1300)
  const shed = await hold(app, { show_id: show.id, quantity: 1 })
  t.equal(shed.statusCode, 503)
  t.match(shed.json(), { status: 503, code: 'overloaded' })
  t.equal((await app.inject('/health')).statusCode, 200, 'health checks are never shed')
  await stalled()
  t.same((await Promise.all(stuck)).map((response) => response.statusCode), Array(3).fill(201), 'the holds already waiting are served')
  await sleep(300)
  t.equal((await hold(app, { show_id: show.id, quantity: 1 })).statusCode, 201, 'served again once the holds move')
})

t.test('a lagging event loop is shed, but not the server\'s own start-up', async (t) => {
  let logs = ''
  const logTo = new Writable({ write (chunk, _encoding, done) { logs += String(chunk); done() } })
  const { app } = await testApp(t, { http: { loadShedding: { maxQueue: 0, maxHoldWaitMs: 0, maxEventLoopDelayMs: 50 } }, logTo })
  const busy = (ms: number): void => { for (const until = performance.now() + ms; performance.now() < until;); }
  // A slow start-up: the loop is blocked after the plugins registered, before the app is ready.
  busy(1200)
  await app.ready()
  await sleep(20)
  t.equal((await app.inject('/shows')).statusCode, 200, 'served as soon as the app is ready')
  await sleep(150)
  t.equal((await app.inject('/shows')).statusCode, 200)

  // A loop that lags 80 ms at every turn for longer than two measuring windows (one second each),
  // so that at least one whole window's mean lag is above the threshold.
  for (const until = performance.now() + 2200; performance.now() < until;) {
    busy(80)
    await new Promise((resolve) => setImmediate(resolve))
  }
  const shed = await app.inject('/shows')
  t.equal(shed.statusCode, 503)
  t.match(shed.json(), { code: 'overloaded' })
  t.equal((await app.inject('/health')).statusCode, 200, 'health checks are never shed')
  t.match(logs, /"statusCode":503/, 'the shed request is logged as completed')
  t.notMatch(logs, /request failed/, 'but not as an error: shedding is not a failure')
  // The window the lag ended in may still be mostly lag; the one after it is clean.
  await sleep(2100)
  t.equal((await app.inject('/shows')).statusCode, 200, 'served again once the loop keeps up')
})

t.test('a request stuck behind a lock or without a connection ends in a 503 problem, not a hung socket', async (t) => {
  const { app, url, db } = await testApp(t, { poolMax: 1, timeouts: { lock: 1500, connect: 300 } })
  const show = await createShow(app, { total_seats: 10 })
  const release = await lockSeat(t, url, show.id, '1')

  const started = performance.now()
  const [stuck, starved] = await Promise.all([
    hold(app, { show_id: show.id, seats: ['1'] }),
    sleep(50).then(async () => await app.inject(`/shows/${show.id}/availability`))
  ])
  const elapsed = performance.now() - started
  t.match({ status: stuck.statusCode, type: stuck.headers['content-type'], body: stuck.json() },
    { status: 503, type: problemType, body: { code: 'service_unavailable' } }, 'lock_timeout ends the hold')
  t.match({ status: starved.statusCode, body: starved.json() },
    { status: 503, body: { code: 'service_unavailable' } }, 'the pool\'s connection timeout ends the read')
  t.ok(stuck.headers['retry-after'] !== undefined && starved.headers['retry-after'] !== undefined)
  t.ok(elapsed < 3000, `both answered within the timeouts (${Math.round(elapsed)} ms)`)

  await release()
  t.equal((await hold(app, { show_id: show.id, seats: ['1'] })).statusCode, 201, 'the seat was never taken')
  const { rows: [{ holds } = { holds: -1 }] } = await sql<{ holds: number }>`SELECT count(*)::int AS holds FROM bookings`.execute(db)
  t.equal(holds, 1, 'the timed-out hold left nothing behind')
})

t.test('behind a trusted proxy the client is the address it forwards, and only then', async (t) => {
  const forwardedFrom = (address: string) => ({ 'x-forwarded-for': address })
  const { app: proxied } = await testApp(t, { http: { trustProxy: 1, rateLimits: { bookingsPerMinute: 1, adminPerMinute: 0 } } })
  const show = await createShow(proxied, { total_seats: 10 })
  t.equal((await hold(proxied, { show_id: show.id, quantity: 1 }, forwardedFrom('203.0.113.1'))).statusCode, 201)
  t.equal((await hold(proxied, { show_id: show.id, quantity: 1 }, forwardedFrom('203.0.113.2'))).statusCode, 201, 'another client behind the proxy')
  t.equal((await hold(proxied, { show_id: show.id, quantity: 1 }, forwardedFrom('203.0.113.1'))).statusCode, 429, 'the first one again')

  const { app: direct } = await testApp(t, { http: { rateLimits: { bookingsPerMinute: 1, adminPerMinute: 0 } } })
  const other = await createShow(direct, { total_seats: 10 })
  t.equal((await hold(direct, { show_id: other.id, quantity: 1 }, forwardedFrom('203.0.113.1'))).statusCode, 201)
  t.equal((await hold(direct, { show_id: other.id, quantity: 1 }, forwardedFrom('203.0.113.2'))).statusCode, 429, 'without TRUST_PROXY a forged header changes nothing')
})

t.test('a database outage is logged as a warning now and then, without a stack; a real 500 as an error with one', async (t) => {
  const lines: Array<{ level: number, msg: string, err?: { stack?: string }, unloggedSinceLast?: number }> = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(JSON.parse(String(chunk))); done() } })
  const { db } = createDatabase({ url: 'postgres://nobody@127.0.0.1:9/none', timeouts: { connect: 500 } })
  t.teardown(async () => await db.destroy())
  const app = await buildApp({
    db, adminToken: 'x'.repeat(32), engine: { holdSeconds: 120, maxHoldSeconds: 900, maxSeatsPerBooking: 10, maxSeatsPerShow: 1000 }, pendingMigrations: async () => [], logger: loggerOptions('info', stream)
  })
  app.get('/fails', async () => { throw new Error('a bug') })
  t.teardown(async () => await app.close())

  for (let i = 0; i < 40; i++) t.equal((await app.inject('/shows')).statusCode, 503)
  const warnings = lines.filter((line) => line.level === 40)
  t.equal(warnings.length, 1, 'one warning for 40 answers')
  t.match(warnings[0], { msg: /database is not answering/, unloggedSinceLast: 0 })
  t.notOk(JSON.stringify(lines).includes('"stack"'), 'no stack')
  t.same(lines.filter((line) => line.level >= 50), [], 'no error line')

  t.equal((await app.inject('/fails')).statusCode, 500)
  const errors = lines.filter((line) => line.level >= 50)
  t.equal(errors.length, 1)
  t.match(errors[0]?.err?.stack, /a bug/)
})
