import t, { type Test } from 'tap'
import type { Booking } from '../api/index.ts'
import type { App } from '../src/app.ts'
import { createShow, holdOk, sleep, testApp } from './helpers/app.ts'
import { EventReader, type Received } from './helpers/event-stream.ts'
import { componentCheck } from './helpers/response-validation.ts'

const checkBooking = componentCheck('Booking')

/** The booking stream of `id`, read as it arrives; every event's data is checked against the document's Booking. */
async function watch (t: Test, app: App, id: string, headers: Record<string, string> = {}) {
  const response = await app.inject({ method: 'GET', url: `/bookings/${id}/events`, headers, payloadAsStream: true })
  const reader = new EventReader<Booking>(response.stream())
  const disconnect = (): void => { response.raw.res.destroy() }
  t.teardown(disconnect)
  const event = async (match: (booking: Booking) => boolean, timeoutMs?: number): Promise<Received<Booking>> => {
    const item = await reader.waitFor((item) => item.event === 'booking' && item.data !== undefined && match(item.data), timeoutMs)
    const invalid = checkBooking(item.data)
    if (invalid !== undefined) t.fail(`a booking event's data does not match Booking: ${invalid}`)
    return item
  }
  return { response, reader, event, disconnect }
}

const status = (expected: Booking['status']) => (booking: Booking): boolean => booking.status === expected
const post = async (app: App, path: string) => await app.inject({ method: 'POST', url: path })

/** Resolves once `left` booking streams are left in the app's hub (none by default). */
async function drained (app: App, left = 0, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (app.showEvents?.bookingSubscriberCount() === left) return true
    await sleep(5)
  }
  return false
}

t.test('the booking arrives at once, as GET /bookings/{id} gives it, then its confirmation, and the stream ends', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 5 })
  const booking = await holdOk(app, { show_id: show.id, quantity: 2 })
  const started = performance.now()
  const { response, reader, event } = await watch(t, app, booking.id)
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/event-stream/)
  const first = await event(status('PENDING'))
  t.ok(first.at - started < 500, `first event after ${Math.round(first.at - started)} ms`)
  t.same(first.data, (await app.inject(`/bookings/${booking.id}`)).json())
  t.match(first.id, /^\d+$/, 'it has an id')
  await post(app, `/bookings/${booking.id}/confirm`)
  const confirmed = await event(status('CONFIRMED'))
  t.same(confirmed.data, (await app.inject(`/bookings/${booking.id}`)).json())
  t.ok(BigInt(confirmed.id ?? 0) > BigInt(first.id ?? 0), 'a later event has a greater id')
  await reader.ended
  t.same(reader.items.filter((item) => item.event === 'booking').map((item) => item.data?.status), ['PENDING', 'CONFIRMED'], 'nothing but the changes')
  t.ok(await drained(app), 'the ended stream left nothing behind')
})

t.test('an extension is sent with its new end, and a cancel ends the stream', async (t) => {
  const { app } = await testApp(t, { holdSeconds: 5 })
  const show = await createShow(app, { total_seats: 5 })
  const booking = await holdOk(app, { show_id: show.id, quantity: 1 })
  const { reader, event } = await watch(t, app, booking.id)
  await event(status('PENDING'))
  await sleep(50)
  const extended = (await post(app, `/bookings/${booking.id}/extend`)).json() as Booking
  t.ok(extended.hold_expires_at > booking.hold_expires_at)
  const seen = await event((data) => data.hold_expires_at === extended.hold_expires_at)
  t.equal(seen.data?.status, 'PENDING', 'still live, with its later end')
  await post(app, `/bookings/${booking.id}/cancel`)
  t.ok((await event(status('CANCELLED'))).data?.cancelled_at !== null)
  await reader.ended
  t.pass('the stream ended after CANCELLED')
})

t.test('a lapsing hold is sent as EXPIRED within a second of hold_expires_at, with no sweep and no write', async (t) => {
  // The default 15 s heartbeat and no sweep: only the hold's end itself can trigger the read.
  const { app } = await testApp(t, { holdSeconds: 2 })
  const show = await createShow(app, { total_seats: 5 })
  const booking = await holdOk(app, { show_id: show.id, quantity: 2 })
  const { reader, event } = await watch(t, app, booking.id)
  await event(status('PENDING'))
  const expired = await event(status('EXPIRED'), 4_000)
  const late = Date.now() - (performance.now() - expired.at) - Date.parse(booking.hold_expires_at)
  t.ok(late >= 0 && late < 1000, `sent ${Math.round(late)} ms after hold_expires_at`)
  const endedAt = await reader.ended
  t.ok(endedAt - expired.at < 500, 'and the stream ended with it')
})

t.test('an extension made through another instance on the same database moves the expiry its stream waits for', async (t) => {
  const a = await testApp(t, { holdSeconds: 3 })
  const b = await testApp(t, { holdSeconds: 3, url: a.url })
  const show = await createShow(a.app, { total_seats: 5 })
  const booking = await holdOk(a.app, { show_id: show.id, quantity: 1 })
  const { reader, event } = await watch(t, a.app, booking.id)
  await event(status('PENDING'))
  await sleep(1000)
  const extending = await post(b.app, `/bookings/${booking.id}/extend`)
  t.equal(extending.statusCode, 200, extending.body)
  const extended = extending.json() as Booking
  await event((data) => data.hold_expires_at === extended.hold_expires_at)
  await sleep(Date.parse(booking.hold_expires_at) - Date.now() + 300)
  t.notOk(reader.items.some((item) => item.data?.status === 'EXPIRED'), 'not expired at the old end')
  const expired = await event(status('EXPIRED'), 6_000)
  const late = Date.now() - (performance.now() - expired.at) - Date.parse(extended.hold_expires_at)
  t.ok(late >= 0 && late < 1000, `expired ${Math.round(late)} ms after the new end`)
})

t.test('a confirm made through another instance on the same database reaches the stream', async (t) => {
  const a = await testApp(t)
  const b = await testApp(t, { url: a.url })
  const show = await createShow(a.app, { total_seats: 5 })
  const booking = await holdOk(a.app, { show_id: show.id, quantity: 2 })
  const { reader, event } = await watch(t, a.app, booking.id)
  await event(status('PENDING'))
  const confirmed = await post(b.app, `/bookings/${booking.id}/confirm`)
  t.equal(confirmed.statusCode, 200)
  t.equal(b.app.showEvents?.bookingSubscriberCount(), 0, 'B has no subscriber: the change crossed through the database')
  const seen = await event(status('CONFIRMED'))
  t.equal(seen.data?.confirmed_at, confirmed.json().confirmed_at)
  await reader.ended
})

t.test('a booking already final is sent once, then the stream ends; an unknown one is a 404 problem', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 5 })
  const booking = await holdOk(app, { show_id: show.id, quantity: 1 })
  await post(app, `/bookings/${booking.id}/cancel`)
  const { reader } = await watch(t, app, booking.id)
  await reader.ended
  t.same(reader.items.map((item) => [item.event, item.data?.status]), [['booking', 'CANCELLED']])
  for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
    const response = await app.inject(`/bookings/${id}/events`)
    t.equal(response.statusCode, 404, id)
    t.match(response.headers['content-type'], /^application\/problem\+json/)
    t.match(response.json(), { status: 404, code: 'booking_not_found' })
  }
  t.ok(await drained(app))
})

t.test('clients that go away, and closing the app, leave no booking stream behind', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 50 })
  const bookings = await Promise.all(Array.from({ length: 20 }, async () => await holdOk(app, { show_id: show.id, quantity: 1 })))
  const streams = await Promise.all(bookings.map(async (booking) => await watch(t, app, booking.id)))
  await Promise.all(streams.map(async ({ event }) => await event(status('PENDING'))))
  t.equal(app.showEvents?.bookingSubscriberCount(), 20)
  for (const stream of streams.slice(0, 10)) stream.disconnect()
  t.ok(await drained(app, 10), 'those that left are gone')
  const started = performance.now()
  await app.close()
  await Promise.all(streams.slice(10).map(async ({ reader }) => await reader.ended))
  t.ok(performance.now() - started < 2_000, 'closing ended the open streams promptly')
  t.equal(app.showEvents?.bookingSubscriberCount(), 0)
})
