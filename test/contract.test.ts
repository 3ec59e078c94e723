import type { AddressInfo } from 'node:net'
import { sql } from 'kysely'
import t from 'tap'
import { bookingEvents, BookingStreamError, createBookingClient, type Booking, type Problem, type Schemas } from '../api/client/index.ts'
import { adminToken, sleep, testApp } from './helpers/app.ts'

/**
 * The whole booking journey through the client that `make client` generates from openapi.yaml,
 * against a listening server. It type-checks against the generated types, so a contract change
 * that breaks clients breaks `make typecheck`; every response is also checked against the
 * document by testApp's response validation.
 */
t.test('the generated client drives the whole journey, errors included', async (t) => {
  const { app, db } = await testApp(t, { holdSeconds: 2, maxHoldSeconds: 3, maxSeatsPerBooking: 4 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const admin = createBookingClient(base, { adminToken })
  const client = createBookingClient(base)
  const code = (error: Problem | undefined): Problem['code'] | undefined => error?.code
  // Problem.code is an enum in the document, so the generated type refuses a misspelled code.
  // @ts-expect-error 'insufficient_seat' is not a problem code
  const misspelled: Problem['code'] = 'insufficient_seat'
  void misspelled
  // A hold names a quantity or seats: the generated body type refuses both, as the server does.
  // @ts-expect-error quantity and seats together
  const both: Schemas['CreateBookingRequest'] = { show_id: '0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10', quantity: 2, seats: ['A1', 'A2'] }
  void both
  // Each code's own members are typed where they occur: narrowing on `code` gives them, and
  // reading one off a problem of another code does not compile.
  const available = (problem: Problem): number | undefined => {
    if (problem.code === 'insufficient_seats') return problem.available
    // @ts-expect-error only an insufficient_seats problem has `available`
    return problem.available
  }
  void available

  const startTime = new Date(Date.now() + 86400_000).toISOString()
  const created = await admin.POST('/admin/shows', {
    body: { name: 'Contract night', start_time: startTime, rows: [{ label: 'A', seats: 3 }, { label: 'B', seats: 3 }] }
  })
  t.equal(created.response.status, 201)
  const show = created.data!
  t.equal(show.layout, 'rows')
  t.equal(code((await client.POST('/admin/shows', { body: { name: 'x', start_time: startTime, total_seats: 1 } })).error), 'unauthorized')
  t.equal(code((await admin.POST('/admin/shows', { body: { name: '', start_time: startTime, total_seats: 1 } })).error), 'validation_failed')

  const listed = await client.GET('/shows', { params: { query: { limit: 10 } } })
  t.ok(listed.data!.items.some((item) => item.id === show.id))
  t.equal((await client.GET('/shows/{id}', { params: { path: { id: show.id } } })).data!.name, 'Contract night')
  t.equal(code((await client.GET('/shows/{id}', { params: { path: { id: 'missing' } } })).error), 'show_not_found')
  const availability = await client.GET('/shows/{id}/availability', { params: { path: { id: show.id } } })
  t.same(availability.data!.availability, { total: 6, available: 6, held: 0, booked: 0 })
  const seatMap = await client.GET('/shows/{id}/seats', { params: { path: { id: show.id } } })
  t.same(seatMap.data!.items.slice(0, 2), [
    { label: 'A1', row: 'A', number: 1, status: 'AVAILABLE' },
    { label: 'A2', row: 'A', number: 2, status: 'AVAILABLE' }
  ])

  const hold = await client.POST('/bookings', {
    body: { show_id: show.id, quantity: 2 },
    params: { header: { 'idempotency-key': 'contract-hold-1' } }
  })
  t.equal(hold.response.status, 201)
  const booking = hold.data!
  t.same(booking.seats, ['A1', 'A2'])
  const replay = await client.POST('/bookings', { body: { show_id: show.id, quantity: 2 }, params: { header: { 'idempotency-key': 'contract-hold-1' } } })
  t.equal(replay.data!.id, booking.id)
  t.equal(code((await client.POST('/bookings', { body: { show_id: show.id, quantity: 1 }, params: { header: { 'idempotency-key': 'contract-hold-1' } } })).error), 'idempotency_key_reused')
  const bySeats = await client.POST('/bookings', { body: { show_id: show.id, seats: ['B3'] } })
  t.same(bySeats.data!.seats, ['B3'])
  const unavailable = (await client.POST('/bookings', { body: { show_id: show.id, seats: ['A1', 'B1'] } })).error
  t.same(unavailable?.code === 'seats_unavailable' && unavailable.unavailable, ['A1'])
  const insufficient = (await client.POST('/bookings', { body: { show_id: show.id, quantity: 4 } })).error
  t.equal(insufficient?.code === 'insufficient_seats' && insufficient.available, 3)
  t.equal(code((await client.POST('/bookings', { body: { show_id: '00000000-0000-4000-8000-000000000000', quantity: 1 } })).error), 'show_not_found')
  t.equal(code((await client.POST('/bookings', { body: { show_id: show.id, quantity: 5 } })).error), 'validation_failed')

  t.equal((await client.GET('/bookings/{id}', { params: { path: { id: booking.id } } })).data!.status, 'PENDING')
  t.equal(code((await client.GET('/bookings/{id}', { params: { path: { id: 'nope' } } })).error), 'booking_not_found')
  const confirmed = await client.POST('/bookings/{id}/confirm', { params: { path: { id: booking.id } } })
  // A response's type has only the problems it may answer: confirm never answers insufficient_seats.
  // @ts-expect-error the codes do not overlap
  void (confirmed.error?.code === 'insufficient_seats')
  t.equal(confirmed.data!.status, 'CONFIRMED')
  t.equal((await client.POST('/bookings/{id}/confirm', { params: { path: { id: booking.id } } })).response.status, 200)
  const cancelled = await client.POST('/bookings/{id}/cancel', { params: { path: { id: booking.id } } })
  t.equal(cancelled.data!.status, 'CANCELLED')
  t.equal((await client.POST('/bookings/{id}/cancel', { params: { path: { id: booking.id } } })).response.status, 200)
  t.equal(code((await client.POST('/bookings/{id}/confirm', { params: { path: { id: booking.id } } })).error), 'booking_cancelled')

  await sleep(Date.parse(bySeats.data!.hold_expires_at) - Date.now() + 20)
  t.equal(code((await client.POST('/bookings/{id}/confirm', { params: { path: { id: bySeats.data!.id } } })).error), 'hold_expired')
  t.equal(code((await client.POST('/bookings/{id}/cancel', { params: { path: { id: bySeats.data!.id } } })).error), 'hold_expired')

  // More time, up to the cap, while a stream follows the booking until its final status.
  const paying = (await client.POST('/bookings', { body: { show_id: show.id, quantity: 1 } })).data!
  const statuses: Array<Booking['status']> = []
  const following = (async () => { for await (const booking of bookingEvents(base, paying.id)) statuses.push(booking.status) })()
  await sleep(1100)
  const extended = await client.POST('/bookings/{id}/extend', { params: { path: { id: paying.id } } })
  t.equal(extended.data!.hold_expires_at, new Date(Date.parse(paying.created_at) + 3000).toISOString(), 'extended to the cap')
  const limit = (await client.POST('/bookings/{id}/extend', { params: { path: { id: paying.id } } })).error
  t.equal(limit?.code === 'extension_limit' && limit.max_hold_expires_at, extended.data!.hold_expires_at)
  t.equal(code((await client.POST('/bookings/{id}/extend', { params: { path: { id: booking.id } } })).error), 'booking_cancelled')
  // Changes closer together than the events' 100 ms may come as one event, the latest.
  await sleep(300)
  await client.POST('/bookings/{id}/cancel', { params: { path: { id: paying.id } } })
  await following
  t.same(statuses, ['PENDING', 'PENDING', 'CANCELLED'], 'the stream gave the hold, its extension and its cancellation, then ended')
  const refused = await bookingEvents(base, 'missing').next().catch((error: unknown) => error)
  t.equal(refused instanceof BookingStreamError && refused.problem.code, 'booking_not_found')

  await sql`UPDATE shows SET start_time = now() - interval '1 minute' WHERE id = ${show.id}`.execute(db)
  t.equal(code((await client.POST('/bookings', { body: { show_id: show.id, quantity: 1 } })).error), 'sales_closed')

  const all = await admin.GET('/admin/shows', { params: { query: { limit: 5 } } })
  t.same(all.data!.items.find((item) => item.id === show.id)!.availability, { total: 6, available: 6, held: 0, booked: 0 })
  const expired = await admin.GET('/admin/shows/{id}/bookings', { params: { path: { id: show.id }, query: { status: 'EXPIRED' } } })
  t.same(expired.data!.items.map((item) => item.id), [bySeats.data!.id])
  t.equal(code((await client.GET('/admin/shows/{id}/bookings', { params: { path: { id: show.id } } })).error), 'unauthorized')
  t.same((await client.GET('/health')).data, { status: 'ok' })
  t.same((await client.GET('/ready')).data, { status: 'ready' })
})
