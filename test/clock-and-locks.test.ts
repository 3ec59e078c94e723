import t from 'tap'
import type { Booking } from '../api/index.ts'
import { createShow, hold, holdOk, sleep, testApp } from './helpers/app.ts'
import { lockSeats, session } from './helpers/sessions.ts'

/**
 * Confirm, cancel, holds and the sweep at a hold's end, with a second database session holding
 * row locks across that end: the contract's clock rules must hold in every interleaving.
 */

const untilEnd = (booking: Booking): number => Date.parse(booking.hold_expires_at) - Date.now()

t.test('a confirm that gets its seats\' locks only after the hold ended answers hold_expired, and nothing contradicts it', async (t) => {
  const { app, url } = await testApp(t, { holdSeconds: 2 })
  const show = await createShow(app, { total_seats: 3 })
  const booking = await holdOk(app, { show_id: show.id, seats: ['2'] })
  await sleep(untilEnd(booking) - 300)
  const release = await lockSeats(t, url, show.id, ['2'])
  const confirming = app.inject({ method: 'POST', url: `/bookings/${booking.id}/confirm` })
  await sleep(untilEnd(booking) + 200)
  t.equal((await app.inject(`/bookings/${booking.id}`)).json().status, 'EXPIRED', 'a reader after the end sees EXPIRED')
  t.equal((await app.inject(`/shows/${show.id}/seats`)).json().items[1].status, 'AVAILABLE')
  await sleep(1500)
  await release()
  const confirmed = await confirming
  t.equal(confirmed.statusCode, 409)
  t.match(confirmed.json(), { code: 'hold_expired' })
  t.equal((await app.inject(`/bookings/${booking.id}`)).json().status, 'EXPIRED', 'and it stays EXPIRED')
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability, { total: 3, available: 3, held: 0, booked: 0 })
})

t.test('a cancel racing a confirm at the hold\'s end gets the same verdict, never a 500', async (t) => {
  const { app, url } = await testApp(t, { holdSeconds: 2 })
  const show = await createShow(app, { total_seats: 4 })

  // The seat stays locked across the end: the confirm waits, and the cancel sent after the end
  // must not decide before it.
  const lapsing = await holdOk(app, { show_id: show.id, seats: ['1'] })
  await sleep(untilEnd(lapsing) - 300)
  const releaseLate = await lockSeats(t, url, show.id, ['1'])
  const confirmLate = app.inject({ method: 'POST', url: `/bookings/${lapsing.id}/confirm` })
  await sleep(untilEnd(lapsing) + 100)
  const cancelLate = app.inject({ method: 'POST', url: `/bookings/${lapsing.id}/cancel` })
  await sleep(500)
  await releaseLate()
  const late = await Promise.all([confirmLate, cancelLate])
  t.same(late.map((response) => response.statusCode), [409, 409], 'both refused: the hold ended before either held the locks')
  t.same(late.map((response) => response.json().code), ['hold_expired', 'hold_expired'])

  // Released before the end: the confirm wins, and the cancel that waited for it cancels the
  // confirmed booking.
  const confirming = await holdOk(app, { show_id: show.id, seats: ['3'] })
  await sleep(untilEnd(confirming) - 600)
  const releaseEarly = await lockSeats(t, url, show.id, ['3'])
  const confirmEarly = app.inject({ method: 'POST', url: `/bookings/${confirming.id}/confirm` })
  await sleep(100)
  const cancelEarly = app.inject({ method: 'POST', url: `/bookings/${confirming.id}/cancel` })
  await sleep(100)
  await releaseEarly()
  const early = await Promise.all([confirmEarly, cancelEarly])
  t.same(early.map((response) => response.statusCode), [200, 200])
  t.same(early.map((response) => response.json().status), ['CONFIRMED', 'CANCELLED'])
  t.equal((await app.inject(`/bookings/${confirming.id}`)).json().status, 'CANCELLED')
})

t.test('a hold decided in its Idempotency-Key\'s transaction sees the seats that lapsed since that transaction began', async (t) => {
  const { app, url } = await testApp(t, { holdSeconds: 2 })
  const show = await createShow(app, { total_seats: 2 })
  const lapsing = await holdOk(app, { show_id: show.id, seats: ['1'] })
  // Another session is deciding the key (it holds the key's advisory lock) from before seat 1's
  // hold ends until after it: the keyed hold's batch leaves the key out, and its own transaction,
  // begun before the end, waits for that lock and decides only after the end.
  const key = 'lapse-while-deciding-0001'
  await sleep(untilEnd(lapsing) - 400)
  const decider = await session(t, url)
  // The lock a transaction deciding this show's key holds (keyLock in src/engine/idempotency.ts),
  // taken through the show's row as the engine takes it (on Citus, on the show's node).
  await decider.query('BEGIN')
  await decider.query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || ' ' || $2, 0)) FROM shows WHERE id = $3", [show.id, key, show.id])
  const holding = hold(app, { show_id: show.id, quantity: 2 }, { 'idempotency-key': key })
  await sleep(untilEnd(lapsing) + 300)
  await decider.query('COMMIT')
  const held = await holding
  t.equal(held.statusCode, 201, `seat 1 is free once its hold has ended (${held.body})`)
  t.same(held.json().seats, ['1', '2'])
  const replayed = await hold(app, { show_id: show.id, quantity: 2 }, { 'idempotency-key': key })
  t.equal(replayed.json().id, held.json().id, 'and that is what the key replays')
})

t.test('the sweep takes seat locks in seat order, so it never deadlocks with a hold', async (t) => {
  const { app, url } = await testApp(t, { holdSeconds: 1 })
  const show = await createShow(app, { total_seats: 2 })
  // The hold that ends first has the higher seat, so booking order and seat order differ.
  await holdOk(app, { show_id: show.id, seats: ['2'] })
  await sleep(20)
  const second = await holdOk(app, { show_id: show.id, seats: ['1'] })
  await sleep(untilEnd(second) + 50)

  const release = await lockSeats(t, url, show.id, ['1'])
  // The hold waits for seat 1 first; the sweep queues behind it. A sweep that locked seat 2
  // before asking for seat 1 would then deadlock with the hold, which wants seat 2 next.
  const holding = hold(app, { show_id: show.id, seats: ['1', '2'] })
  await sleep(200)
  const sweeping = app.engine.sweepExpiredHolds()
  await sleep(200)
  const released = performance.now()
  await release()
  const [held, swept] = await Promise.all([holding, sweeping])
  const took = performance.now() - released
  t.equal(held.statusCode, 201)
  t.same(held.json().seats, ['1', '2'])
  t.equal(swept.expired, 2)
  t.ok(took < 800, `both done ${Math.round(took)} ms after the lock went, without waiting for deadlock detection (1 s)`)
})

t.test('a confirm chosen as a deadlock\'s victim is run again, not answered with a 503', async (t) => {
  const { app, url } = await testApp(t)
  const show = await createShow(app, { total_seats: 2 })
  const booking = await holdOk(app, { show_id: show.id, seats: ['1'] })
  // A session that locks the seat, then the booking: the reverse of the order writers use, so the
  // confirm (booking, then seat) deadlocks with it; the confirm waited first, so it detects the
  // deadlock and is the victim.
  const other = await session(t, url)
  await other.query('BEGIN')
  await other.query('SELECT 1 FROM seats WHERE show_id = $1 AND label = $2 FOR UPDATE', [show.id, '1'])
  const confirming = app.inject({ method: 'POST', url: `/bookings/${booking.id}/confirm` })
  await sleep(200)
  // On Citus, the distributed deadlock detector may cancel this session instead (also 40P01).
  await other.query('SELECT 1 FROM bookings WHERE show_id = $1 AND id = $2 FOR UPDATE', [show.id, booking.id])
    .catch((error: { code?: string }) => { if (error.code !== '40P01') throw error })
  await other.query('ROLLBACK')
  const confirmed = await confirming
  t.equal(confirmed.statusCode, 200, confirmed.body)
  t.equal(confirmed.json().status, 'CONFIRMED')
})
