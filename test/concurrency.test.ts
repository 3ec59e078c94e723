import { sql } from 'kysely'
import t from 'tap'
import type { Booking, ProblemCode } from '../api/index.ts'
import type { App } from '../src/app.ts'
import { createBookingEngine } from '../src/engine/index.ts'
import { createShow, hold, holdOk, sleep, testApp } from './helpers/app.ts'
import { invariantViolations, seatCounts } from './helpers/invariants.ts'

interface Attempt { quantity: number, status: number, booking?: Booking, code?: ProblemCode }

/** Fires every request at once and waits for all of them. */
async function storm (apps: App[], showId: string, quantities: number[]): Promise<Attempt[]> {
  return await Promise.all(quantities.map(async (quantity, i) => {
    const response = await hold(apps[i % apps.length]!, { show_id: showId, quantity })
    const body = response.json()
    return response.statusCode === 201
      ? { quantity, status: 201, booking: body }
      : { quantity, status: response.statusCode, code: body.code }
  }))
}

const randomQuantities = (count: number): number[] => Array.from({ length: count }, () => 1 + Math.floor(Math.random() * 4))

t.test('storms of concurrent holds never sell a seat twice nor say sold out while seats are free', async (t) => {
  const { app, db } = await testApp(t, { poolMax: 10 })
  for (let round = 0; round < 6; round++) {
    const total = 400
    const show = await createShow(app, { total_seats: total })
    const attempts = await storm([app], show.id, randomQuantities(520))

    const unexpected = attempts.filter((attempt) => attempt.status !== 201 && attempt.code !== 'insufficient_seats')
    t.same(unexpected, [], `round ${round}: every hold answered 201 or insufficient_seats`)
    const held = attempts.filter((attempt) => attempt.status === 201)
    const heldSeats = held.flatMap((attempt) => attempt.booking!.seats)
    t.equal(new Set(heldSeats).size, heldSeats.length, `round ${round}: no seat in two holds`)
    t.ok(held.every((attempt) => attempt.booking!.seats.length === attempt.quantity), 'each hold got what it asked for')

    const counts = await seatCounts(db, show.id)
    t.equal(counts.held, held.reduce((sum, attempt) => sum + attempt.quantity, 0), `round ${round}: held count equals the successful quantities`)
    const { availability } = (await app.inject(`/shows/${show.id}/availability`)).json()
    t.equal(availability.available + availability.held + availability.booked, total)
    t.same(availability, { total, available: counts.free, held: counts.held, booked: 0 })

    const falseSoldOut = attempts.filter((attempt) => attempt.code === 'insufficient_seats' && attempt.quantity <= counts.free)
    t.same(falseSoldOut, [], `round ${round}: no insufficient_seats while ${counts.free} seats were still free`)
    t.ok(counts.free < 4, `round ${round}: the show sold out as far as the asks allow (${counts.free} left)`)
    t.same(await invariantViolations(db, show.id), [])
  }
})

t.test('holds by label race for the same seats: each seat goes to one booking', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { total_seats: 50 })
  const asks = Array.from({ length: 300 }, () => {
    const first = 1 + Math.floor(Math.random() * 48)
    return [String(first), String(first + 1 + Math.floor(Math.random() * 2))]
  })
  const responses = await Promise.all(asks.map(async (seats) => await hold(app, { show_id: show.id, seats })))
  const won = responses.filter((response) => response.statusCode === 201).map((response) => response.json() as Booking)
  t.ok(responses.every((response) => response.statusCode === 201 || response.json().code === 'seats_unavailable'))
  const seats = won.flatMap((booking) => booking.seats)
  t.equal(new Set(seats).size, seats.length, 'no seat won twice')
  t.same(await invariantViolations(db, show.id), [])
})

t.test('near sell-out, seats locked for a moment by requests that then give up are not sold out', async (t) => {
  const { app, db } = await testApp(t, { poolMax: 24 })
  let falseSoldOut = 0
  for (let round = 0; round < 40; round++) {
    const show = await createShow(app, { total_seats: 30 })
    const attempts = await storm([app], show.id, randomQuantities(30))
    const { free } = await seatCounts(db, show.id)
    falseSoldOut += attempts.filter((attempt) => attempt.code === 'insufficient_seats' && attempt.quantity <= free).length
    t.same(await invariantViolations(db, show.id), [])
  }
  t.equal(falseSoldOut, 0, 'no insufficient_seats asking for no more than the seats left free at the end')
})

t.test('two app instances on one database storming one show keep every invariant', async (t) => {
  const first = await testApp(t, { poolMax: 8 })
  const second = await testApp(t, { url: first.url, poolMax: 8 })
  for (let round = 0; round < 3; round++) {
    const total = 300
    const show = await createShow(first.app, { total_seats: total })
    const attempts = await storm([first.app, second.app], show.id, randomQuantities(400))
    const held = attempts.filter((attempt) => attempt.status === 201)
    const heldSeats = held.flatMap((attempt) => attempt.booking!.seats)
    t.equal(new Set(heldSeats).size, heldSeats.length, 'no seat in two holds')
    t.same(attempts.filter((attempt) => attempt.status !== 201 && attempt.code !== 'insufficient_seats'), [])
    const counts = await seatCounts(first.db, show.id)
    t.equal(counts.held, held.reduce((sum, attempt) => sum + attempt.quantity, 0))
    t.same(attempts.filter((attempt) => attempt.code === 'insufficient_seats' && attempt.quantity <= counts.free), [], 'no false sold-out')
    t.same(await invariantViolations(first.db, show.id), [])
  }
})

t.test('confirm at the very end of a hold: confirmed with its seats, or expired with them gone, never both', async (t) => {
  const { app, db } = await testApp(t, { holdSeconds: 1, poolMax: 12 })
  const seatsPerHold = 2
  const holds = 40
  const show = await createShow(app, { total_seats: holds * seatsPerHold })
  const bookings = await Promise.all(Array.from({ length: holds }, async () => await holdOk(app, { show_id: show.id, quantity: seatsPerHold })))

  // Each confirm lands within a few milliseconds of its hold's end, while a rival asks for the same seats.
  const outcomes = await Promise.all(bookings.map(async (booking, i) => {
    const offset = (i % 9) - 4
    await sleep(Math.max(0, Date.parse(booking.hold_expires_at) - Date.now() + offset))
    const [confirm, rival] = await Promise.all([
      app.inject({ method: 'POST', url: `/bookings/${booking.id}/confirm` }),
      hold(app, { show_id: show.id, seats: booking.seats })
    ])
    return { booking, confirm, rival }
  }))

  let confirmed = 0
  let expired = 0
  for (const { booking, confirm, rival } of outcomes) {
    const stored = (await app.inject(`/bookings/${booking.id}`)).json() as Booking
    if (confirm.statusCode === 200) {
      confirmed++
      t.equal(stored.status, 'CONFIRMED')
      t.equal(rival.statusCode, 409, 'the rival did not get the seats of a confirmed booking')
      const holders = await db.selectFrom('seats').select(['booking_id', 'hold_expires_at'])
        .where('show_id', '=', show.id).where('label', 'in', booking.seats).execute()
      t.ok(holders.every((seat) => seat.booking_id === booking.id && seat.hold_expires_at === null), 'its seats are BOOKED to it')
    } else {
      expired++
      t.match(confirm.json(), { code: 'hold_expired' })
      t.equal(stored.status, 'EXPIRED')
    }
  }
  t.equal(confirmed + expired, holds)
  t.comment(`${confirmed} confirmed, ${expired} expired at the boundary`)
  t.same(await invariantViolations(db, show.id), [])
  await sleep(1100)
  t.same(await invariantViolations(db, show.id), [], 'and after every rival hold lapsed too')
})

t.test('two sweeps at once expire every lapsed hold exactly once', async (t) => {
  const { app, db, url } = await testApp(t, { holdSeconds: 1 })
  const second = await testApp(t, { url })
  const show = await createShow(app, { total_seats: 300 })
  const bookings = await Promise.all(Array.from({ length: 150 }, async () => await holdOk(app, { show_id: show.id, quantity: 2 })))
  await sleep(Math.max(...bookings.map((booking) => Date.parse(booking.hold_expires_at))) - Date.now() + 50)

  const engines = [app.engine, second.app.engine, createBookingEngine(db, { holdSeconds: 1, maxHoldSeconds: 900, maxSeatsPerBooking: 10, maxSeatsPerShow: 1000 })]
  const results = await Promise.all(engines.map(async (engine) => await engine.sweepExpiredHolds(7)))
  t.equal(results.reduce((sum, result) => sum + result.expired, 0), 150, 'none expired twice, none skipped')
  t.equal(results.reduce((sum, result) => sum + result.released, 0), 300)
  const { rows } = await sql<{ status: string, count: number }>`
    SELECT status, count(*)::int AS count FROM bookings WHERE show_id = ${show.id} GROUP BY status`.execute(db)
  t.same(rows, [{ status: 'EXPIRED', count: 150 }])
  t.same((await seatCounts(db, show.id)), { free: 300, held: 0, booked: 0, total: 300 })
})
