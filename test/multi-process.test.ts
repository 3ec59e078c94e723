import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import t, { type Test } from 'tap'
import type { Availability, Booking, QueueTicket } from '../api/index.ts'
import { createDatabase } from '../src/db/database.ts'
import { createShow, stormServerEnv } from './helpers/acknowledged.ts'
import { freshDatabaseUrl } from './helpers/database.ts'
import { EventReader, isAvailability } from './helpers/event-stream.ts'
import { invariantViolations, seatCounts } from './helpers/invariants.ts'
import { startServerProcess, type ServerProcess } from './helpers/server-process.ts'

const adminToken = 'multi-process-admin-token-42'

async function post (base: string, path: string, body?: unknown): Promise<{ status: number, body: Record<string, unknown> }> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000)
  })
  return { status: response.status, body: await response.json() as Record<string, unknown> }
}

/** Holds from `loops` concurrent clients spread over `bases`; confirms every other hold. */
async function storm (bases: string[], showId: string, loops: number, holdsPerLoop: number): Promise<{ held: Booking[], confirmed: string[], refused: unknown[] }> {
  const held: Booking[] = []
  const confirmed: string[] = []
  const refused: unknown[] = []
  await Promise.all(Array.from({ length: loops }, async (_, loop) => {
    for (let i = 0; i < holdsPerLoop; i++) {
      const base = bases[(loop + i) % bases.length]!
      const hold = await post(base, '/bookings', { show_id: showId, quantity: 1 + ((loop + i) % 3) })
      if (hold.status !== 201) {
        if (hold.body.code !== 'insufficient_seats') refused.push(hold.body)
        continue
      }
      const booking = hold.body as unknown as Booking
      held.push(booking)
      if (i % 2 === 0) {
        const confirm = await post(bases[(loop + i + 1) % bases.length]!, `/bookings/${booking.id}/confirm`)
        if (confirm.status === 200) confirmed.push(booking.id)
        else refused.push(confirm.body)
      }
    }
  }))
  return { held, confirmed, refused }
}

async function checkInvariants (t: Test, url: string, base: string, showId: string, held: Booking[], confirmed: string[]): Promise<void> {
  const { db } = createDatabase({ url })
  t.teardown(async () => await db.destroy())
  t.same(await invariantViolations(db, showId), [], 'every booking invariant holds')
  const seats = held.flatMap((booking) => booking.seats)
  t.equal(new Set(seats).size, seats.length, 'no seat was given to two holds')
  const counts = await seatCounts(db, showId)
  t.equal(counts.held + counts.booked, seats.length, 'the database holds exactly the acknowledged seats')
  t.equal(counts.booked, held.filter((booking) => confirmed.includes(booking.id)).reduce((sum, booking) => sum + booking.quantity, 0), 'and booked exactly the confirmed ones')
  const { availability } = await (await fetch(`${base}/shows/${showId}/availability`)).json() as { availability: Availability }
  t.same(availability, { total: counts.total, available: counts.free, held: counts.held, booked: counts.booked })
}

/** An event stream of `base` at `path`, read as it arrives; closed when the test ends. */
async function follow<Data> (t: Test, base: string, path: string): Promise<EventReader<Data>> {
  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const response = await fetch(`${base}${path}`, { signal: controller.signal })
  return new EventReader<Data>(Readable.fromWeb(response.body as WebReadableStream))
}

/** A live-availability stream of `base`. */
const subscribe = async (t: Test, base: string, showId: string): Promise<EventReader> => await follow<Availability>(t, base, `/shows/${showId}/events`)

/** The counts of the first event from `reader` with those in `expected`. */
const counts = async (reader: EventReader, expected: Partial<Availability>): Promise<Availability | undefined> =>
  (await reader.waitFor(isAvailability(expected), 10_000)).data

t.test('two server processes on one database: a storm through both keeps every invariant, and live availability crosses them', async (t) => {
  const url = await freshDatabaseUrl()
  const env = stormServerEnv(adminToken)
  const [a, b] = await Promise.all([0, 1].map(async () => await startServerProcess(t, { databaseUrl: url, env }))) as [ServerProcess, ServerProcess]

  const show = await createShow(a.url, adminToken, 400)
  const seenByA = await subscribe(t, a.url, show.id)
  const seenByB = await subscribe(t, b.url, show.id)
  await counts(seenByA, { available: 400 })
  await counts(seenByB, { available: 400 })

  // A hold through each process reaches the subscribers of both.
  t.equal((await post(b.url, '/bookings', { show_id: show.id, seats: ['1', '2'] })).status, 201)
  t.match(await counts(seenByA, { held: 2 }), { held: 2, available: 398 }, 'a hold through B reaches a stream on A')
  t.match(await counts(seenByB, { held: 2 }), { held: 2 }, 'and the stream on B')
  t.equal((await post(a.url, '/bookings', { show_id: show.id, seats: ['3'] })).status, 201)
  t.match(await counts(seenByB, { held: 3 }), { held: 3, available: 397 }, 'a hold through A reaches a stream on B')

  const { held, confirmed, refused } = await storm([a.url, b.url], show.id, 24, 12)
  t.same(refused, [], 'every request answered 201, 200 or a sold-out 409')
  const all = held
  const { db } = createDatabase({ url })
  t.teardown(async () => await db.destroy())
  const earlier = await db.selectFrom('bookings').selectAll().where('show_id', '=', show.id).where('id', 'not in', all.map((booking) => booking.id)).execute()
  t.equal(earlier.length, 2, 'only the two holds made before the storm are not in it')
  const final = await seatCounts(db, show.id)
  await counts(seenByA, { held: final.held, booked: final.booked })
  await counts(seenByB, { held: final.held, booked: final.booked })
  t.pass('both streams end on the final counts')
  t.same(await invariantViolations(db, show.id), [], 'every booking invariant holds')
  const seats = all.flatMap((booking) => booking.seats)
  t.equal(new Set([...seats, '1', '2', '3']).size, seats.length + 3, 'no seat was given twice')
  t.equal(final.booked, all.filter((booking) => confirmed.includes(booking.id)).reduce((sum, booking) => sum + booking.quantity, 0), 'booked exactly the confirmed holds')

  // A booking's stream on A hears its cancellation through B.
  const pending = all.find((booking) => !confirmed.includes(booking.id))!
  const bookingStream = await follow<Booking>(t, a.url, `/bookings/${pending.id}/events`)
  await bookingStream.waitFor((item) => item.data?.status === 'PENDING', 10_000)
  t.equal((await post(b.url, `/bookings/${pending.id}/cancel`)).status, 200)
  await bookingStream.waitFor((item) => item.data?.status === 'CANCELLED', 10_000)
  await bookingStream.ended
  t.pass('a cancel through B reaches the booking\'s stream on A, which then ends')
})

t.test('WORKERS=2 serves one port from two processes that share the database, and stops both on SIGTERM', async (t) => {
  const url = await freshDatabaseUrl()
  const server = await startServerProcess(t, { databaseUrl: url, env: { ...stormServerEnv(adminToken), WORKERS: '2', LOG_LEVEL: 'info' }, startTimeoutMs: 60_000 })
  // The first worker to listen is enough for the helper; wait for the second.
  const deadline = Date.now() + 60_000
  while ((server.stdout().match(/Server listening/g) ?? []).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal((server.stdout().match(/Server listening/g) ?? []).length, 2, 'two workers listen')

  const show = await createShow(server.url, adminToken, 300)
  const { held, confirmed, refused } = await storm([server.url], show.id, 16, 10)
  t.same(refused, [])
  await checkInvariants(t, url, server.url, show.id, held, confirmed)
  const servingPids = new Set([...server.stdout().matchAll(/"pid":(\d+),[^\n]*"url":"\/bookings"/g)].map((match) => match[1]))
  t.equal(servingPids.size, 2, 'both workers served holds')
  for (let scrape = 0; scrape < 3; scrape++) {
    // Whichever worker answers, the counts are the whole service's.
    const text = await (await fetch(`${server.url}/metrics`)).text()
    const holds = Number(/^booking_operations_total\{operation="hold",outcome="ok"\} (\d+)$/m.exec(text)?.[1])
    t.equal(holds, held.length, `scrape ${scrape + 1}: holds counted over both workers`)
  }

  // The primary made the waiting room's secret and gave it to both: a ticket from one is good at the other.
  t.match(server.stdout(), /WAITING_ROOM_SECRET is not set; this process made one/)
  const room = await createShow(server.url, adminToken, 5, { waiting_room: { admit_per_minute: 1 } })
  const tickets = await Promise.all(Array.from({ length: 8 }, async () => await (await fetch(`${server.url}/shows/${room.id}/queue`, { method: 'POST' })).json() as QueueTicket))
  const answers = await Promise.all(tickets.map(async ({ ticket }) => (await fetch(`${server.url}/shows/${room.id}/queue/${ticket}`)).status))
  t.same(answers, tickets.map(() => 200), 'every ticket is read by whichever worker answers')
  t.equal(new Set([...server.stdout().matchAll(/"pid":(\d+),[^\n]*"url":"\/shows\/[^/"]+\/queue/g)].map((match) => match[1])).size, 2, 'both workers served the queue')

  server.kill('SIGTERM')
  const exit = await server.waitForExit(20_000)
  t.same(exit, { code: 0, signal: null }, 'the primary exits cleanly after its workers')
  t.match(server.stdout(), /shutting down the workers/)
  t.equal((server.stdout().match(/"msg":"shutting down"/g) ?? []).length, 2, 'each worker shut down gracefully')
})
