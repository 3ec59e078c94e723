import { sql } from 'kysely'
import pg from 'pg'
import t, { type Test } from 'tap'
import type { Booking } from '../api/index.ts'
import { createDatabase, type Database, type Timeouts } from '../src/db/database.ts'
import { createBatchQueue } from '../src/engine/batch-queue.ts'
import { everyHash } from '../src/engine/booking-ids.ts'
import { holdBatch, type BatchedHold, type BatchedOutcome } from '../src/engine/holds.ts'
import { createBookingEngine } from '../src/engine/index.ts'
import { admin, createShow, hold, sleep, testApp } from './helpers/app.ts'
import { keepBookingsOut, onCitus } from './helpers/database.ts'
import { invariantViolations } from './helpers/invariants.ts'

/** A pool of its own, behind a session that keeps new bookings out until `release`, so its first hold statement waits. */
async function poolBehindLock (t: Test, url: string, timeouts?: Timeouts) {
  const own = createDatabase({ url, poolMax: 1, ...(timeouts !== undefined && { timeouts }) })
  t.teardown(async () => { await own.db.destroy() })
  return { db: own.db, release: await keepBookingsOut(t, url) }
}

async function batcherBehindLock (t: Test, url: string, timeouts?: Timeouts) {
  const { db, release } = await poolBehindLock(t, url, timeouts)
  const batcher = createBatchQueue<BatchedHold, BatchedOutcome>(async (showId, holds) => await holdBatch(db, showId, holds, { holdSeconds: 120, idRange: everyHash }))
  const hold = async (showId: string, quantity: number) => {
    const outcome = await batcher.submit(showId, { quantity })
    if (outcome.kind !== 'granted') throw new Error(`the hold was ${outcome.kind}`)
    return outcome.booking
  }
  return { batcher, hold, release }
}

const settings = { holdSeconds: 120, maxHoldSeconds: 900, maxSeatsPerBooking: 10, maxSeatsPerShow: 1000 }

const metric = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)

t.test('concurrent holds of one show go together in few statements, each with seats of its own', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { total_seats: 100 })
  const responses = await Promise.all(Array.from({ length: 20 }, async () => await hold(app, { show_id: show.id, quantity: 2 })))
  t.same(responses.map((response) => response.statusCode), Array(20).fill(201))
  const seats = responses.flatMap((response) => response.json().seats as string[]).map(Number).sort((a, b) => a - b)
  t.same(seats, Array.from({ length: 40 }, (_, i) => i + 1), 'the 40 lowest seats, each in one booking')

  const metrics = (await app.inject('/metrics')).body
  t.equal(metric(metrics, 'booking_hold_statement_holds_sum'), 20, 'every hold went through a hold statement')
  t.ok(metric(metrics, 'booking_hold_statement_holds_count') < 20, 'fewer statements than holds')
  const { rows: [statements] } = await sql<{ count: number }>`
    SELECT count(DISTINCT created_at)::int AS count FROM bookings WHERE show_id = ${show.id}`.execute(db)
  t.ok((statements?.count ?? 20) < 20, 'bookings made by one statement share its transaction time')
  t.same(await invariantViolations(db, show.id), [])
  t.equal((await app.inject({ method: 'GET', url: `/admin/shows/${show.id}/bookings`, headers: admin })).json().items.length, 20)
})

t.test('one batch hands out the lowest seats in the order the holds were asked, all or nothing each', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { total_seats: 8 })
  const outcomes = await holdBatch(db, show.id, [2, 3, 1, 4].map((quantity) => ({ quantity })), { holdSeconds: 120, idRange: everyHash })
  t.same(outcomes.map((outcome) => outcome.kind === 'granted' ? outcome.booking.seats : outcome.kind), [['1', '2'], ['3', '4', '5'], ['6'], 'not granted'],
    'the fourth hold did not fit in the 2 seats left, so it got none')
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability, { total: 8, available: 2, held: 6, booked: 0 })
  // The engine gives an ungranted hold its search that waits for locked seats: here, a refusal with the true count.
  t.match((await hold(app, { show_id: show.id, quantity: 4 })).json(), { code: 'insufficient_seats', available: 2 })
  t.same(await invariantViolations(db, show.id), [])
})

t.test('holds wait while their show\'s statement runs, and are counted while they wait', async (t) => {
  const { app, db, url } = await testApp(t)
  const show = await createShow(app, { total_seats: 50 })
  const { batcher, hold, release } = await batcherBehindLock(t, url)

  const first = hold(show.id, 1)
  await sleep(100)
  const waiting = Array.from({ length: 5 }, async () => await hold(show.id, 2))
  t.equal(batcher.waiting(), 5, 'the five behind it wait for it')
  await release()
  const rows = await Promise.all([first, ...waiting])
  t.equal(batcher.waiting(), 0)
  t.same(rows.map((booking) => booking.seats.length), [1, 2, 2, 2, 2, 2])
  t.same(new Set(rows.map((booking) => booking.created_at)).size, 2, 'the five went in one batch')
  t.same(await invariantViolations(db, show.id), [])
})

t.test('a statement that fails fails every hold in it with its error', async (t) => {
  const { app, url } = await testApp(t)
  const show = await createShow(app, { total_seats: 10 })
  const { batcher, hold, release } = await batcherBehindLock(t, url, { connect: 5_000, lock: 200, statement: 5_000 })
  const first = hold(show.id, 1)
  await sleep(50)
  const results = await Promise.allSettled([first, ...[1, 2, 3].map(async (quantity) => await hold(show.id, quantity))])
  await release()
  t.same(results.map((result) => result.status === 'rejected' && (result.reason as { code?: string }).code), Array(4).fill('55P03'),
    'the lock timeout, for the first statement\'s hold and for the three that went together after it')
  t.equal(batcher.waiting(), 0)
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability.available, 10, 'nothing was held')
})

async function engineBehindLock (t: Test, url: string, timeouts?: Timeouts) {
  const { db, release } = await poolBehindLock(t, url, timeouts)
  const statements: number[] = []
  const engine = createBookingEngine(db, settings, { holdBatchStarted: (holds) => { statements.push(holds) } })
  const waitingFor = async (holds: number): Promise<void> => {
    const deadline = Date.now() + 5_000
    while (engine.holdsWaiting() < holds) {
      if (Date.now() > deadline) throw new Error(`${engine.holdsWaiting()} holds wait for a statement, not ${holds}`)
      await sleep(5)
    }
  }
  return { engine, statements, release, waitingFor }
}

const outcomes = async (db: Database) => await db.selectFrom('idempotency_keys')
  .select(['key', 'outcome', 'locked_until']).orderBy('key').execute()

t.test('holds with an Idempotency-Key go in the shared statement, whose transaction records their outcomes', async (t) => {
  const { app, db, url } = await testApp(t)
  const show = await createShow(app, { total_seats: 20 })
  const { engine, statements, release, waitingFor } = await engineBehindLock(t, url)
  const first = engine.hold({ showId: show.id, quantity: 1 })
  await sleep(100)
  const keyed = ['key-a', 'key-b', 'key-c'].map(async (key) => await engine.hold({ showId: show.id, quantity: 2 }, key))
  const plain = engine.hold({ showId: show.id, quantity: 1 })
  // A client that sends one request twice at once, and a key reused for another body, in the same batch.
  const twice = engine.hold({ showId: show.id, quantity: 2 }, 'key-b')
  const reused = t.rejects(engine.hold({ showId: show.id, quantity: 3 }, 'key-a'), { code: 'idempotency_key_reused' },
    'the key reused for another body was refused')
  await waitingFor(6)
  await release()
  const [, a, b, c] = await Promise.all([first, ...keyed, plain])
  t.same(statements, [1, 4], 'the three keyed holds went with the plain one in one statement, the key sent twice once')
  t.same(await twice, b, 'the request sent twice got the first one\'s booking')
  await reused
  t.same((await outcomes(db)).map((row) => [row.key, row.outcome, row.locked_until]),
    [['key-a', { booking: a }], ['key-b', { booking: b }], ['key-c', { booking: c }]].map(([key, outcome]) => [key, outcome, null]),
    'each key records its booking as answered, and is no longer locked')
  t.same(await engine.hold({ showId: show.id, quantity: 2 }, 'key-b'), b, 'a retry gets the same booking')
  t.same(statements, [1, 4], 'without another hold statement')
  t.same(await invariantViolations(db, show.id), [])
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability.held, 8)
})

t.test('a keyed hold the shared statement cannot grant is decided in its key\'s own transaction', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { total_seats: 3 })
  const refused = await hold(app, { show_id: show.id, quantity: 4 }, { 'idempotency-key': 'too-many' })
  t.match(refused.json(), { code: 'insufficient_seats', available: 3 })
  t.match(await outcomes(db), [{ key: 'too-many', outcome: { error: { code: 'insufficient_seats' } }, locked_until: null }])
  const again = await hold(app, { show_id: show.id, quantity: 4 }, { 'idempotency-key': 'too-many' })
  t.same([again.statusCode, again.json()], [refused.statusCode, refused.json()], 'and its refusal replayed')
})

t.test('a shared statement that fails leaves its keys free for a retry', async (t) => {
  const { app, db, url } = await testApp(t)
  const show = await createShow(app, { total_seats: 10 })
  const { engine, release, waitingFor } = await engineBehindLock(t, url, { connect: 5_000, lock: 200, statement: 5_000 })
  const first = engine.hold({ showId: show.id, quantity: 1 }, 'first')
  await sleep(50)
  const second = engine.hold({ showId: show.id, quantity: 2 }, 'second')
  await waitingFor(1)
  const results = await Promise.allSettled([first, second])
  t.same(results.map((result) => result.status === 'rejected' && (result.reason as { code?: string }).code), ['55P03', '55P03'])
  t.same(await outcomes(db), [], 'no key is left claimed')
  await release()
  t.match(await engine.hold({ showId: show.id, quantity: 2 }, 'second'), { quantity: 2, status: 'PENDING' }, 'a retry holds anew')
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability.held, 2)
})

t.test('a batch never waits for another transaction deciding one of its keys, so the other holds of its show go on', async (t) => {
  const { app, db, url } = await testApp(t)
  const show = await createShow(app, { total_seats: 10 })
  // Seat 1 is locked by another session, so a hold of it by label waits inside its key's own
  // transaction, which holds the key until it ends.
  const blocker = new pg.Client({ connectionString: url })
  await blocker.connect()
  t.teardown(async () => { await blocker.end() })
  await blocker.query('BEGIN')
  await blocker.query("SELECT 1 FROM seats WHERE show_id = $1 AND label = '1' FOR UPDATE", [show.id])
  const key = { 'idempotency-key': 'decided-elsewhere-0001' }
  const first = hold(app, { show_id: show.id, seats: ['1'] }, key)
  // Asked outside the blocker's transaction, which would see one snapshot of the activity; other
  // test files share the server. On Citus the hold waits on the seat's worker, which Citus's view
  // of every node's activity shows.
  const activity = sql.table(await onCitus() ? 'citus_stat_activity' : 'pg_stat_activity')
  const waiting = async (): Promise<boolean> => (await sql`
    SELECT 1 FROM ${activity} WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(db)).rows.length > 0
  while (!await waiting()) await sleep(20)
  // The same key with another body, and a plain hold, both for the show's next batch.
  const started = performance.now()
  const [reused, plain] = await Promise.all([
    hold(app, { show_id: show.id, quantity: 1 }, key),
    hold(app, { show_id: show.id, quantity: 1 })
  ])
  const waited = performance.now() - started
  t.equal(plain.statusCode, 201)
  t.same(plain.json().seats, ['2'], 'past the locked seat')
  t.ok(waited < 1000, `neither waited for the key's transaction (${Math.round(waited)} ms)`)
  t.match(reused.json(), { code: 'idempotency_key_reused' }, 'the key, claimed by its first request, refuses the other body')
  await blocker.query('COMMIT')
  const held = await first
  t.equal(held.statusCode, 201)
  t.same(held.json().seats, ['1'])
})

t.test('confirms that arrive while one of their show runs go together in the next statement, each with its own verdict', async (t) => {
  const { app, db, url } = await testApp(t)
  const shows = [await createShow(app, { total_seats: 10 }), await createShow(app, { total_seats: 10 })]
  const holds = []
  for (let i = 0; i < 6; i++) holds.push((await hold(app, { show_id: shows[i % 2]!.id, quantity: 1 })).json() as Booking)
  const cancelled = (await hold(app, { show_id: shows[0]!.id, quantity: 1 })).json() as Booking
  t.equal((await app.inject({ method: 'POST', url: `/bookings/${cancelled.id}/cancel` })).statusCode, 200)
  const confirm = async (booking: Booking) => await app.inject({ method: 'POST', url: `/bookings/${booking.id}/confirm` })
  // The first show's first confirm waits for its booking's row, locked by another session; the
  // show's next confirms queue behind it.
  const blocker = new pg.Client({ connectionString: url })
  await blocker.connect()
  t.teardown(async () => { await blocker.end() })
  await blocker.query('BEGIN')
  await blocker.query('SELECT 1 FROM bookings WHERE show_id = $1 AND id = $2 FOR UPDATE', [holds[0]!.show_id, holds[0]!.id])
  const first = confirm(holds[0]!)
  await sleep(100)
  const waiting = [holds[2]!, holds[4]!, cancelled].map(confirm)
  const others = await Promise.all([holds[1]!, holds[3]!, holds[5]!].map(confirm))
  t.same(others.map((answer) => answer.statusCode), [200, 200, 200], 'the other show\'s confirms were answered while the first show\'s waited')
  await sleep(100)
  await blocker.query('COMMIT')
  const answers = await Promise.all([first, ...waiting])
  t.same(answers.map((answer) => answer.statusCode), [200, 200, 200, 409])
  t.match(answers[3]!.json(), { code: 'booking_cancelled' }, 'the cancelled booking in the batch gets its own refusal')
  const confirmedAt = answers.map((answer) => answer.json().confirmed_at as string)
  t.equal(confirmedAt[1], confirmedAt[2], 'the confirms of a show that waited were decided by one statement, with one clock reading')
  t.not(confirmedAt[0], confirmedAt[1], 'apart from the first')
  for (const show of shows) t.same(await invariantViolations(db, show.id), [])
})
