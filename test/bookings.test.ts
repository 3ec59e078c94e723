import { sql } from 'kysely'
import t from 'tap'
import { defaultEngineSettings } from '../src/config.ts'
import { createShow, hold, holdOk, sleep, testApp } from './helpers/app.ts'
import { onCitus } from './helpers/database.ts'
import { invariantViolations } from './helpers/invariants.ts'

t.test('a hold by quantity takes the lowest free seats', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { rows: [{ label: 'A', seats: 3 }, { label: 'B', seats: 3 }] })
  const response = await hold(app, { show_id: show.id, quantity: 2 })
  t.equal(response.statusCode, 201)
  const booking = response.json()
  t.match(booking, { show_id: show.id, status: 'PENDING', quantity: 2, seats: ['A1', 'A2'], confirmed_at: null, cancelled_at: null })
  const window = Date.parse(booking.hold_expires_at) - Date.parse(booking.created_at)
  t.equal(window, defaultEngineSettings.holdSeconds * 1000, 'held for HOLD_WINDOW_SECONDS')
  t.match((await holdOk(app, { show_id: show.id, seats: ['B1'] })).seats, ['B1'])
  t.same((await holdOk(app, { show_id: show.id, quantity: 3 })).seats, ['A3', 'B2', 'B3'], 'skipping held seats, in seat order')
  t.same((await app.inject(`/bookings/${booking.id}`)).json(), booking)
})

t.test('a hold by labels is all or none and names the seats that are not free', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 5 })
  t.same((await holdOk(app, { show_id: show.id, seats: ['4', '2'] })).seats, ['2', '4'])
  const response = await hold(app, { show_id: show.id, seats: ['1', '2', '4', '9'] })
  t.equal(response.statusCode, 409)
  t.match(response.json(), { code: 'seats_unavailable', unavailable: ['2', '4', '9'] })
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability, { total: 5, available: 3, held: 2, booked: 0 }, 'seat 1 was not held')
})

t.test('a hold by labels finds the seats of rows whose labels read more than one way', async (t) => {
  const { app } = await testApp(t)
  // Seat numbers 1-9 in A, 10-12 in A1, 13-23 in 1, 24-28 in 12: "A11" is A1's seat 1 (A has
  // no seat 11), "12" is row 1's seat 2, "121" row 12's seat 1 (row 1 has no seat 21).
  const show = await createShow(app, { rows: [{ label: 'A', seats: 9 }, { label: 'A1', seats: 3 }, { label: '1', seats: 11 }, { label: '12', seats: 5 }] })
  const booking = await holdOk(app, { show_id: show.id, seats: ['121', '111', 'A11', '12'] })
  t.same(booking.seats, ['A11', '12', '111', '121'], 'in seat order')
  const map = (await app.inject(`/shows/${show.id}/seats`)).json().items as Array<{ label: string, status: string }>
  t.same(map.flatMap((seat, index) => seat.status === 'HELD' ? [[index + 1, seat.label]] : []), [[10, 'A11'], [14, '12'], [23, '111'], [24, '121']])
  // Labels of seats past a row's end, or with a seat number of a leading zero, name no seat.
  const response = await hold(app, { show_id: show.id, seats: ['A10', '126', 'A01', '10'] })
  t.equal(response.statusCode, 409)
  t.match(response.json(), { code: 'seats_unavailable', unavailable: ['A10', '126', 'A01', '10'] })
  t.same((await holdOk(app, { show_id: show.id, seats: ['125', 'A9', '11', 'A13'] })).seats, ['A9', 'A13', '11', '125'])
})

t.test('holds answer the contract\'s errors', async (t) => {
  const { app, db } = await testApp(t, { maxSeatsPerBooking: 4 })
  const show = await createShow(app, { total_seats: 3 })

  const insufficient = await hold(app, { show_id: show.id, quantity: 4 })
  t.equal(insufficient.statusCode, 409)
  t.match(insufficient.json(), { code: 'insufficient_seats', available: 3, type: '/problems/insufficient_seats' })
  await holdOk(app, { show_id: show.id, quantity: 2 })
  t.match((await hold(app, { show_id: show.id, quantity: 2 })).json(), { code: 'insufficient_seats', available: 1 })

  const missing = await hold(app, { show_id: '00000000-0000-4000-8000-000000000000', quantity: 1 })
  t.equal(missing.statusCode, 404)
  t.match(missing.json(), { code: 'show_not_found' })

  const started = await createShow(app, { total_seats: 3 })
  await sql`UPDATE shows SET start_time = now() - interval '1 minute' WHERE id = ${started.id}`.execute(db)
  for (const body of [{ quantity: 1 }, { seats: ['1'] }]) {
    const closed = await hold(app, { show_id: started.id, ...body })
    t.equal(closed.statusCode, 409)
    t.match(closed.json(), { code: 'sales_closed' })
  }

  const bad: Array<[unknown, string]> = [
    [{ show_id: show.id, quantity: 0 }, '/body/quantity'],
    [{ show_id: show.id, quantity: 5 }, '/body/quantity'],
    [{ show_id: show.id, quantity: '1' }, '/body/quantity'],
    [{ show_id: show.id, quantity: 1.5 }, '/body/quantity'],
    [{ show_id: show.id, seats: [] }, '/body/seats'],
    [{ show_id: show.id, seats: ['1', '1'] }, '/body/seats'],
    [{ show_id: show.id, seats: ['1', '2', '3', '4', '5'] }, '/body/seats'],
    [{ show_id: show.id, seats: ['a1'] }, '/body/seats/0'],
    [{ show_id: show.id, seats: [1] }, '/body/seats/0'],
    [{ show_id: show.id, quantity: 1, seats: ['1'] }, '/body/'],
    [{ show_id: 'nope', quantity: 1 }, '/body/show_id'],
    [{ quantity: 1 }, '/body/show_id'],
    [{ show_id: show.id, quantity: 1, note: 'hi' }, '/body/note'],
    [[], '/body'],
    ['x', '/body']
  ]
  for (const [payload, path] of bad) {
    const response = await app.inject({ method: 'POST', url: '/bookings', payload: payload as object, headers: { 'content-type': 'application/json' } })
    t.equal(response.statusCode, 400, JSON.stringify(payload))
    const problem = response.json()
    t.match(problem, { code: 'validation_failed', status: 400 })
    t.ok(problem.errors.some((error: { path: string }) => error.path.startsWith(path)), `${JSON.stringify(payload)}: ${JSON.stringify(problem.errors)}`)
  }
  const empty = await app.inject({ method: 'POST', url: '/bookings' })
  t.equal(empty.statusCode, 400)
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability, { total: 3, available: 1, held: 2, booked: 0 }, 'no bad request held anything')
})

t.test('confirm and cancel, each idempotent', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { total_seats: 4 })
  const booking = await holdOk(app, { show_id: show.id, quantity: 2 })

  const confirmed = await app.inject({ method: 'POST', url: `/bookings/${booking.id}/confirm` })
  t.equal(confirmed.statusCode, 200)
  t.match(confirmed.json(), { id: booking.id, status: 'CONFIRMED', seats: ['1', '2'], confirmed_at: String, cancelled_at: null })
  const again = await app.inject({ method: 'POST', url: `/bookings/${booking.id}/confirm` })
  t.equal(again.statusCode, 200)
  t.same(again.json(), confirmed.json())
  const seats = (await app.inject(`/shows/${show.id}/seats`)).json().items.map((seat: { status: string }) => seat.status)
  t.same(seats, ['BOOKED', 'BOOKED', 'AVAILABLE', 'AVAILABLE'])

  const cancelled = await app.inject({ method: 'POST', url: `/bookings/${booking.id}/cancel` })
  t.equal(cancelled.statusCode, 200)
  t.match(cancelled.json(), { status: 'CANCELLED', cancelled_at: String, confirmed_at: String, seats: ['1', '2'] })
  t.same((await app.inject({ method: 'POST', url: `/bookings/${booking.id}/cancel` })).json(), cancelled.json())
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability, { total: 4, available: 4, held: 0, booked: 0 }, 'cancel frees the seats at once')
  const refused = await app.inject({ method: 'POST', url: `/bookings/${booking.id}/confirm` })
  t.equal(refused.statusCode, 409)
  t.match(refused.json(), { code: 'booking_cancelled' })

  const pending = await holdOk(app, { show_id: show.id, seats: ['1'] })
  t.match((await app.inject({ method: 'POST', url: `/bookings/${pending.id}/cancel` })).json(), { status: 'CANCELLED', confirmed_at: null })
  t.same((await holdOk(app, { show_id: show.id, seats: ['1'] })).seats, ['1'], 'a cancelled hold\'s seat can be held again')

  for (const id of ['00000000-0000-4000-8000-000000000000', 'nope', 'x'.repeat(300), "1' OR '1'='1"]) {
    for (const action of ['', '/confirm', '/cancel']) {
      const response = await app.inject({ method: action === '' ? 'GET' : 'POST', url: `/bookings/${encodeURIComponent(id)}${action}` })
      t.equal(response.statusCode, 404)
      t.match(response.json(), { code: 'booking_not_found' })
    }
  }
  t.same(await invariantViolations(db, show.id), [])
})

t.test('confirm and cancel take no body: none, an empty JSON one, null or {} is fine, anything else is refused', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 4 })
  const json = { 'content-type': 'application/json' }
  for (const action of ['confirm', 'cancel']) {
    const booking = await holdOk(app, { show_id: show.id, quantity: 1 })
    const url = `/bookings/${booking.id}/${action}`
    for (const payload of ['{"reason":"changed my mind"}', '[]', '"x"', '0']) {
      const refused = await app.inject({ method: 'POST', url, headers: json, payload })
      t.equal(refused.statusCode, 400, `${action} ${payload}`)
      t.match(refused.json(), { code: 'validation_failed' })
    }
    t.match((await app.inject(`/bookings/${booking.id}`)).json(), { status: 'PENDING' }, 'a refused body changes nothing')
    const empty = await app.inject({ method: 'POST', url, headers: json, payload: '' })
    t.equal(empty.statusCode, 200, `${action} with an empty JSON body`)
    for (const payload of ['{}', 'null']) {
      t.equal((await app.inject({ method: 'POST', url, headers: json, payload })).statusCode, 200, `${action} with ${payload}`)
    }
  }
  const noHold = await app.inject({ method: 'POST', url: '/bookings', headers: json, payload: '' })
  t.equal(noHold.statusCode, 400, 'a hold still needs its body')
  t.match(noHold.json(), { code: 'validation_failed', errors: [{ path: '/body/show_id' }] })
})

t.test('a hold ends exactly at hold_expires_at, before any sweep', async (t) => {
  const { app, db } = await testApp(t, { holdSeconds: 1 })
  const show = await createShow(app, { total_seats: 3 })
  const lapsing = await holdOk(app, { show_id: show.id, seats: ['1', '2'] })
  const cancelling = await holdOk(app, { show_id: show.id, seats: ['3'] })
  // Both holds have ended once the later one has.
  await sleep(Date.parse(cancelling.hold_expires_at) - Date.now() + 20)

  t.match((await app.inject(`/bookings/${lapsing.id}`)).json(), { status: 'EXPIRED', seats: ['1', '2'] })
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability, { total: 3, available: 3, held: 0, booked: 0 })
  t.same((await app.inject(`/shows/${show.id}/seats`)).json().items.map((seat: { status: string }) => seat.status), ['AVAILABLE', 'AVAILABLE', 'AVAILABLE'])
  for (const action of ['confirm', 'cancel']) {
    const response = await app.inject({ method: 'POST', url: `/bookings/${lapsing.id}/${action}` })
    t.equal(response.statusCode, 409, action)
    t.match(response.json(), { code: 'hold_expired' })
  }
  t.match((await app.inject({ method: 'POST', url: `/bookings/${cancelling.id}/cancel` })).json(), { code: 'hold_expired' })

  const next = await holdOk(app, { show_id: show.id, seats: ['2'] })
  const lowest = await holdOk(app, { show_id: show.id, quantity: 2 })
  t.same(lowest.seats, ['1', '3'], 'lapsed seats are held again, lowest first')
  t.same((await app.inject({ url: `/admin/shows/${show.id}/bookings?status=EXPIRED`, headers: { authorization: 'Bearer test-admin-token-0123456789' } })).json().items.length, 2)

  const swept = await app.engine.sweepExpiredHolds()
  t.same(swept, { expired: 2, released: 0, batches: 1, showIds: [show.id] }, 'the sweep finds the seats already taken by others')
  const stored = await db.selectFrom('bookings').select(['status', 'expired_at', 'hold_expires_at']).where('id', '=', lapsing.id).executeTakeFirstOrThrow()
  t.equal(stored.status, 'EXPIRED')
  t.same(stored.expired_at, stored.hold_expires_at)
  t.match((await app.inject(`/bookings/${lapsing.id}`)).json(), { status: 'EXPIRED', seats: ['1', '2'] }, 'an expired booking still names its seats')
  t.match((await app.inject(`/bookings/${next.id}`)).json(), { status: 'PENDING', seats: ['2'] })
  t.same(await invariantViolations(db, show.id), [])
})

t.test('the sweep releases the seats of lapsed holds', async (t) => {
  const { app, db } = await testApp(t, { holdSeconds: 1 })
  const show = await createShow(app, { total_seats: 4 })
  await holdOk(app, { show_id: show.id, quantity: 3 })
  const confirmed = await holdOk(app, { show_id: show.id, quantity: 1 })
  await app.inject({ method: 'POST', url: `/bookings/${confirmed.id}/confirm` })
  await sleep(1100)
  t.same(await app.engine.sweepExpiredHolds(2), { expired: 1, released: 3, batches: 1, showIds: [show.id] })
  const { count } = await db.selectFrom('seats').select((eb) => eb.fn.countAll<string>().as('count'))
    .where('show_id', '=', show.id).where('booking_id', 'is not', null).executeTakeFirstOrThrow()
  t.equal(Number(count), 1, 'only the confirmed seat keeps a holder')
  t.same(await app.engine.sweepExpiredHolds(), { expired: 0, released: 0, batches: 0, showIds: [] })
})

// A Citus coordinator plans each run of a statement for the shard its show id names; the worker
// then plans the shard's statement. Each statement's single node is checked in citus.test.ts.
const citusSkip = await onCitus() ? 'the coordinator plans each run for its shard on Citus' : false

t.test('holds, confirms and cancels are planned once per connection, not on every request', { skip: citusSkip }, async (t) => {
  // One connection, so every statement below lands in the pg_prepared_statements read at the end.
  const { app, db } = await testApp(t, { poolMax: 1 })
  // As large as the flash sale's show: with few seats PostgreSQL settles on a generic plan either way.
  const show = await createShow(app, { total_seats: 100_000 })
  const holds = []
  for (let i = 0; i < 8; i++) holds.push(await holdOk(app, { show_id: show.id, quantity: 2 }))
  for (const booking of holds) {
    t.equal((await app.inject({ method: 'POST', url: `/bookings/${booking.id}/confirm` })).statusCode, 200)
    t.equal((await app.inject({ method: 'POST', url: `/bookings/${booking.id}/cancel` })).statusCode, 200)
  }
  // PostgreSQL plans a prepared statement's first five runs for their values, then keeps a generic
  // plan only when that plan is estimated no costlier: a statement that never switches is planned
  // anew on every request.
  const { rows } = await sql<{ statement: string, generic_plans: string }>`
    SELECT statement, generic_plans FROM pg_prepared_statements
    WHERE statement ~ '^(with "free" as|insert into "bookings"|insert into "booking_seats"|update "seats" set "booking_id"|with "target" as)'`.execute(db)
  t.equal(rows.length, 6, 'the hold\'s four statements (find seats, write bookings, their seats, the seats\' holders), confirm and cancel')
  for (const row of rows) t.ok(Number(row.generic_plans) >= 3, `generic plan used: ${row.statement.trim().slice(0, 40)}`)
})
