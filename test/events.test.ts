import { request as httpRequest } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { sql } from 'kysely'
import t from 'tap'
import type { Availability } from '../api/index.ts'
import type { App } from '../src/app.ts'
import { createBookingEngine } from '../src/engine/index.ts'
import { createListener } from '../src/events/listener.ts'
import { silentLog } from '../src/background-log.ts'
import { createShow, holdOk, sleep, testApp } from './helpers/app.ts'
import { EventReader, isAvailability, type Received } from './helpers/event-stream.ts'

async function subscribe (app: App, showId: string, headers: Record<string, string> = {}) {
  const response = await app.inject({ method: 'GET', url: `/shows/${showId}/events`, headers, payloadAsStream: true })
  const reader = new EventReader(response.stream())
  // What a client that goes away looks like to the server.
  const disconnect = (): void => { response.raw.res.destroy() }
  return { response, reader, disconnect }
}

const availability = async (app: App, showId: string): Promise<Availability> =>
  (await app.inject(`/shows/${showId}/availability`)).json().availability

/** Resolves once the hub has forgotten every subscriber and show (cleanup runs on 'close', a tick later). */
async function drained (app: App, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (app.showEvents?.subscriberCount() === 0 && app.showEvents.showCount() === 0) return true
    await sleep(5)
  }
  return false
}

t.test('the first event arrives at once with the show\'s counts', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 10 })
  await holdOk(app, { show_id: show.id, quantity: 3 })
  const started = performance.now()
  const { response, reader, disconnect } = await subscribe(app, show.id)
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/event-stream/)
  t.match(response.headers['cache-control'], /no-cache/)
  const first = await reader.waitFor((item) => item.event === 'availability')
  t.same(first.data, { total: 10, available: 7, held: 3, booked: 0 }, 'data is the availability object alone')
  t.ok(first.at - started < 500, `first event after ${Math.round(first.at - started)} ms`)
  t.equal(app.showEvents?.subscriberCount(), 1)
  disconnect()
  t.ok(await drained(app))
})

t.test('a hold made through the API sends the new counts', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 10 })
  const { reader, disconnect } = await subscribe(app, show.id)
  await reader.waitFor(isAvailability({ available: 10 }))
  const booking = await holdOk(app, { show_id: show.id, quantity: 2 })
  await reader.waitFor(isAvailability({ total: 10, available: 8, held: 2, booked: 0 }))
  await app.inject({ method: 'POST', url: `/bookings/${booking.id}/confirm` })
  await reader.waitFor(isAvailability({ available: 8, held: 0, booked: 2 }))
  const second = await holdOk(app, { show_id: show.id, quantity: 1 })
  await reader.waitFor(isAvailability({ available: 7, held: 1 }))
  await app.inject({ method: 'POST', url: `/bookings/${second.id}/cancel` })
  await reader.waitFor(isAvailability({ available: 8, held: 0, booked: 2 }))
  const counts = reader.availabilities.map((item) => JSON.stringify(item.data))
  t.ok(counts.every((count, i) => i === 0 || count !== counts[i - 1]), 'never the same counts twice in a row')
  disconnect()
})

t.test('every event has an id, the database time of its counts: a later event has a greater id', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 10 })
  const { reader, disconnect } = await subscribe(app, show.id)
  const first = await reader.waitFor(isAvailability({ available: 10 }))
  await holdOk(app, { show_id: show.id, quantity: 2 })
  const second = await reader.waitFor(isAvailability({ available: 8 }))
  t.match(first.id, /^\d{16}$/)
  t.ok(BigInt(second.id ?? 0) > BigInt(first.id ?? 0), `${second.id} after ${first.id}`)
  const micros = Number(second.id) / 1000
  t.ok(Math.abs(micros - Date.now()) < 5_000, 'microseconds since the epoch, by the database clock')
  disconnect()
})

t.test('a client back with Last-Event-ID gets the current counts at once, changes made while it was away included', async (t) => {
  const a = await testApp(t)
  const b = await testApp(t, { url: a.url })
  const show = await createShow(a.app, { total_seats: 10 })
  // Others keep watching on both instances, so that each has counts of its own to offer newcomers.
  const watchers = [await subscribe(a.app, show.id), await subscribe(b.app, show.id)]
  const away = await subscribe(a.app, show.id)
  const seen = await away.reader.waitFor(isAvailability({ available: 10 }))
  away.disconnect()
  await holdOk(a.app, { show_id: show.id, quantity: 3 })
  for (const { reader } of watchers) await reader.waitFor(isAvailability({ available: 7 }))
  for (const [name, app] of [['the same instance', a.app], ['another instance', b.app]] as const) {
    const started = performance.now()
    const back = await subscribe(app, show.id, { 'last-event-id': seen.id ?? '' })
    const first = await back.reader.waitFor((item) => item.event === 'availability')
    t.same(first.data, { total: 10, available: 7, held: 3, booked: 0 }, `${name}: the current counts`)
    t.ok(first.at - started < 500, `${name}: at once (${Math.round(first.at - started)} ms)`)
    t.ok(BigInt(first.id ?? 0) > BigInt(seen.id ?? 0), `${name}: with a later id`)
    back.disconnect()
  }
  for (const { disconnect } of watchers) disconnect()
})

t.test('a client back with an id newer than the counts a process has gets counts taken after its id', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 10 })
  const watcher = await subscribe(app, show.id)
  const held = await watcher.reader.waitFor(isAvailability({ available: 10 }))
  // An id from a count taken later (by another process, say) than those this process sent.
  const later = (BigInt(held.id ?? 0) + 50_000n).toString()
  await sleep(60)
  const back = await subscribe(app, show.id, { 'last-event-id': later })
  const first = await back.reader.waitFor((item) => item.event === 'availability')
  t.ok(BigInt(first.id ?? 0) >= BigInt(later), `counted again: ${first.id} is not before ${later}`)
  t.same(first.data, { total: 10, available: 10, held: 0, booked: 0 })
  back.disconnect()
  watcher.disconnect()
})

t.test('a malformed Last-Event-ID is ignored: the stream starts as for a new client', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 4 })
  for (const id of ['', 'abc', '-5', '1.5', '9'.repeat(40), 'x'.repeat(4000), '12 34']) {
    const { response, reader, disconnect } = await subscribe(app, show.id, { 'last-event-id': id })
    t.equal(response.statusCode, 200, JSON.stringify(id.slice(0, 12)))
    t.same((await reader.waitFor((item) => item.event === 'availability')).data, { total: 4, available: 4, held: 0, booked: 0 })
    disconnect()
  }
  t.ok(await drained(app))
})

t.test('a burst of 200 holds is coalesced to at most 10 events a second, ending with the final counts', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 1000 })
  const { reader, disconnect } = await subscribe(app, show.id)
  await reader.waitFor(isAvailability({ available: 1000 }))
  // The hub's own sends, timed where they happen: the stream's arrival times also carry the
  // jitter of a process busy with the burst.
  const sentAt: number[] = []
  let firstSent = (): void => {}
  const hasFirst = new Promise<void>((resolve) => { firstSent = resolve })
  const direct = app.showEvents?.subscribe(show.id, {
    availability: () => {
      sentAt.push(performance.now())
      firstSent()
    },
    keepAlive: () => {},
    close: () => {}
  })
  t.equal(await direct?.found, true)
  // A count may still be due when `found` settles (the listener's first LISTEN recounts, say):
  // begun after it, the burst's first holds would be in the hub's first event to this subscriber,
  // which the stream gets too, and the two tallies below would differ by one.
  await hasFirst
  const before = reader.availabilities.length
  const started = performance.now()
  // About 150 holds a second from 4 clients, so that the burst lasts over a second.
  let next = 0
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < 200) {
      next++
      await holdOk(app, { show_id: show.id, quantity: 1 })
      await sleep(20)
    }
  }))
  const burstMs = performance.now() - started
  const final = await availability(app, show.id)
  t.same(final, { total: 1000, available: 800, held: 200, booked: 0 })
  await reader.waitFor(isAvailability(final))
  await sleep(300)
  const events = reader.availabilities.slice(before)
  t.same(events.at(-1)?.data, final, 'the last event is the final availability')
  const spanMs = (events.at(-1)?.at ?? 0) - (events[0]?.at ?? 0)
  const perSecond = (events.length - 1) / (spanMs / 1000)
  const sent = sentAt.slice(1)
  const gaps = sent.slice(1).map((at, i) => at - (sent[i] ?? 0))
  const busiestSecond = Math.max(...sent.map((at) => sent.filter((other) => other >= at && other < at + 1000).length))
  t.comment(`200 holds in ${Math.round(burstMs)} ms gave ${events.length} events over ${Math.round(spanMs)} ms (${perSecond.toFixed(1)}/s); ` +
    `sent at least ${Math.round(Math.min(...gaps))} ms apart, ${busiestSecond} in the busiest second`)
  t.ok(events.length >= 2 && events.length < 200, 'coalesced')
  t.ok(perSecond <= 10.5, 'at most 10 a second over the burst, as received')
  t.equal(sent.length, events.length, 'the stream got every event the hub sent')
  t.ok(Math.min(...gaps) >= 100, 'sent at least 100 ms apart')
  t.ok(busiestSecond <= 10, 'at most 10 sent in any second')
  direct?.cancel()
  disconnect()
})

t.test('a change made through another instance on the same database reaches this one\'s subscribers', async (t) => {
  const a = await testApp(t)
  const b = await testApp(t, { url: a.url })
  t.not(a.app.showEvents, b.app.showEvents, 'each instance has its own hub')
  const show = await createShow(b.app, { total_seats: 50 })
  const { reader, disconnect } = await subscribe(a.app, show.id)
  await reader.waitFor(isAvailability({ available: 50 }))
  await holdOk(b.app, { show_id: show.id, quantity: 4 })
  await reader.waitFor(isAvailability({ available: 46, held: 4 }))
  t.equal(b.app.showEvents?.subscriberCount(), 0, 'B has no subscriber: the change crossed through the database')
  disconnect()
})

t.test('the hub recounts every subscribed show when its LISTEN connection comes back', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { total_seats: 20 })
  const { reader, disconnect } = await subscribe(app, show.id)
  await reader.waitFor(isAvailability({ available: 20 }))
  // Listening, and past the recount that follows it.
  while (app.showEvents?.listening() !== true) await sleep(10)
  await sleep(300)
  // A write nobody publishes stands for a notification lost while the connection was down.
  const unobserved = createBookingEngine(db, { holdSeconds: 120, maxHoldSeconds: 900, maxSeatsPerBooking: 10, maxSeatsPerShow: 100 })
  await unobserved.hold({ showId: show.id, quantity: 5 })
  await sleep(300)
  t.notOk(reader.items.some(isAvailability({ available: 15 })), 'unpublished, it is not seen')
  const { rows } = await sql<{ killed: boolean }>`
    SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
    WHERE application_name = 'booking-api-listen' AND datname = current_database()`.execute(db)
  t.same(rows, [{ killed: true }], 'the one LISTEN connection of this process is cut')
  await reader.waitFor(isAvailability({ available: 15, held: 5 }))
  t.pass('after reconnecting, the hub recounted and sent the change it could not have heard of')
  disconnect()
})

t.test('an unknown or malformed show id answers a 404 problem before any stream', async (t) => {
  const { app } = await testApp(t)
  for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', 'x'.repeat(300)]) {
    const response = await app.inject(`/shows/${id}/events`)
    t.equal(response.statusCode, 404, id)
    t.match(response.headers['content-type'], /^application\/problem\+json/)
    t.match(response.json(), { status: 404, code: 'show_not_found', type: '/problems/show_not_found' })
  }
  t.ok(await drained(app), 'nothing is left subscribed')
})

t.test('keep-alive comments, and holds lapsing by the clock, show up on the heartbeat', async (t) => {
  const { app } = await testApp(t, { heartbeatMs: 50, holdSeconds: 1 })
  const show = await createShow(app, { total_seats: 5 })
  const { reader, disconnect } = await subscribe(app, show.id)
  const opened = performance.now()
  await reader.waitFor(isAvailability({ available: 5 }))
  const keepAlives = (): Received[] => reader.items.filter((item) => item.comment === 'keep-alive')
  while (keepAlives().length < 3 && performance.now() - opened < 3_000) await sleep(10)
  const third = keepAlives()[2]
  t.ok(third !== undefined && third.at - opened < 1_000, `three \`: keep-alive\` comments within ${Math.round((third?.at ?? Infinity) - opened)} ms`)
  await holdOk(app, { show_id: show.id, quantity: 2 })
  await reader.waitFor(isAvailability({ available: 3, held: 2 }))
  // No sweep runs in tests and nothing writes: only the heartbeat's recount can see the lapse.
  await reader.waitFor(isAvailability({ available: 5, held: 0 }), 3_000)
  t.pass('the lapsed hold is seen without any write')
  disconnect()
})

t.test('a hold that lapses reaches subscribers within a second of its end, not at the next heartbeat', async (t) => {
  // The default 15 s heartbeat, and no sweep: only the hold's end itself can trigger the recount.
  const { app } = await testApp(t, { holdSeconds: 2 })
  const show = await createShow(app, { total_seats: 5 })
  const { reader, disconnect } = await subscribe(app, show.id)
  await reader.waitFor(isAvailability({ available: 5 }))
  const first = await holdOk(app, { show_id: show.id, quantity: 2 })
  await sleep(500)
  const second = await holdOk(app, { show_id: show.id, quantity: 1 })
  await reader.waitFor(isAvailability({ available: 2, held: 3 }))
  let since = performance.now()
  for (const [booking, expected] of [[first, { available: 4, held: 1 }], [second, { available: 5, held: 0 }]] as const) {
    const after = since
    const seen = await reader.waitFor((item) => item.at > after && isAvailability(expected)(item), 4_000)
    since = seen.at
    const late = Date.now() - (performance.now() - seen.at) - Date.parse(booking.hold_expires_at)
    t.ok(late >= 0 && late < 1000, `seen ${Math.round(late)} ms after hold_expires_at`)
  }
  disconnect()
})

t.test('the LISTEN connection retries at least once a second while the database is away', async (t) => {
  // A server that accepts and at once drops every connection, counting the attempts.
  const attempts: number[] = []
  const server = createServer((socket) => { attempts.push(performance.now()); socket.destroy() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const { port } = server.address() as AddressInfo
  const listener = createListener({
    url: `postgres://nobody@127.0.0.1:${port}/none`,
    channel: 'show_changed',
    onNotification: () => {},
    onListening: () => {},
    log: silentLog
  })
  listener.start()
  await sleep(6000)
  await listener.close()
  const gaps = attempts.slice(1).map((at, i) => at - attempts[i]!)
  t.ok(attempts.length >= 6, `${attempts.length} attempts in 6 s`)
  t.ok(Math.max(...gaps) < 1100, `the longest wait between attempts: ${Math.round(Math.max(...gaps))} ms`)
})

t.test('10,000 connects and disconnects leave no subscriber, show state or heap behind', async (t) => {
  const { app } = await testApp(t)
  const events = app.showEvents
  if (events === undefined) throw new Error('testApp has live availability')
  const shows = await Promise.all([1, 2, 3, 4].map(async () => await createShow(app, { total_seats: 10 })))
  // Not as a node-arg: tap takes node-args for every file. The flag works when set before use.
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void

  /** Opens `size` streams at once on the shows, then drops them all; state comes and goes per batch. */
  async function cycles (total: number, size: number): Promise<void> {
    for (let done = 0; done < total; done += size) {
      const streams = await Promise.all(Array.from({ length: size }, async (_, i) =>
        await app.inject({ method: 'GET', url: `/shows/${shows[i % shows.length]?.id ?? ''}/events`, payloadAsStream: true })))
      for (const stream of streams) {
        if (stream.statusCode !== 200) throw new Error(`answered ${stream.statusCode}`)
        stream.stream().resume()
        stream.raw.res.destroy()
      }
      if (!await drained(app)) throw new Error(`subscribers left behind: ${events?.subscriberCount()} in ${events?.showCount()} shows`)
    }
  }

  const started = performance.now()
  await cycles(1_000, 100)
  gc()
  const baseline = process.memoryUsage().heapUsed
  await cycles(10_000, 100)
  gc()
  const grown = process.memoryUsage().heapUsed - baseline
  const seconds = (performance.now() - started) / 1000
  t.comment(`11,000 cycles in ${seconds.toFixed(1)} s; heap ${(grown / 1024 / 1024).toFixed(1)} MB above the baseline after GC`)
  t.equal(events.subscriberCount(), 0)
  t.equal(events.showCount(), 0)
  // A leak of even 1 KB per stream would show as 10 MB.
  t.ok(grown < 8 * 1024 * 1024, 'the heap does not grow with the cycles')

  // Real sockets, dropped at every moment: before the answer, right after the head, after an event.
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  await Promise.all(Array.from({ length: 300 }, async (_, i) => {
    await new Promise<void>((resolve) => {
      const request = httpRequest({ port, host: '127.0.0.1', path: `/shows/${shows[i % shows.length]?.id ?? ''}/events` })
      request.on('error', () => { resolve() })
      request.on('close', () => { resolve() })
      if (i % 3 === 0) setImmediate(() => request.destroy())
      request.on('response', (response) => {
        if (i % 3 === 1) request.destroy()
        else response.once('data', () => request.destroy())
      })
      request.end()
    })
  }))
  t.ok(await drained(app), 'real sockets that went away left nothing either')
})

t.test('closing the app ends open streams instead of waiting for their clients', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 3 })
  const { response } = await subscribe(app, show.id)
  const ended = new Promise<void>((resolve) => { response.stream().on('end', resolve).resume() })
  const started = performance.now()
  await app.close()
  await ended
  t.ok(performance.now() - started < 2_000, 'closed promptly')
  t.equal(app.showEvents?.subscriberCount(), 0)
})
