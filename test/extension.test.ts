import { sql } from 'kysely'
import t from 'tap'
import type { Booking } from '../api/index.ts'
import type { App } from '../src/app.ts'
import type { Database } from '../src/db/database.ts'
import { createShow, holdOk, sleep, testApp } from './helpers/app.ts'
import { lockSeats } from './helpers/sessions.ts'

const extend = async (app: App, id: string) => await app.inject({ method: 'POST', url: `/bookings/${id}/extend` })
const read = async (app: App, id: string): Promise<Booking> => (await app.inject(`/bookings/${id}`)).json()
const untilEnd = (booking: Booking): number => Date.parse(booking.hold_expires_at) - Date.now()

/** The hold ends the seats keep for themselves, one per seat. */
async function seatEnds (db: Database, booking: Booking): Promise<Array<string | null>> {
  const rows = await db.selectFrom('seats').select('hold_expires_at')
    .where('show_id', '=', booking.show_id).where('booking_id', '=', booking.id).orderBy('seat_no').execute()
  return rows.map((row) => row.hold_expires_at?.toISOString() ?? null)
}

t.test('an extension moves the hold\'s end to a window from now, and the seats stay held until then', async (t) => {
  // The extension comes halfway through a 4 s hold, so the new end is 2 s past the old one: room
  // for the checks between them on a loaded machine.
  const { app, db } = await testApp(t, { holdSeconds: 4, maxHoldSeconds: 60 })
  const show = await createShow(app, { total_seats: 3 })
  const booking = await holdOk(app, { show_id: show.id, quantity: 2 })
  await sleep(2000)
  const before = Date.now()
  const extended = await extend(app, booking.id)
  t.equal(extended.statusCode, 200, extended.body)
  const body: Booking = extended.json()
  t.equal(body.status, 'PENDING')
  t.same(body.seats, booking.seats)
  const end = Date.parse(body.hold_expires_at)
  t.ok(end >= before + 4000 - 50 && end <= Date.now() + 4000 + 50, `ends a window from now (${end - before} ms after the request)`)
  t.ok(end > Date.parse(booking.hold_expires_at), 'later than before')
  t.same(await seatEnds(db, body), [body.hold_expires_at, body.hold_expires_at], 'the seats\' ends moved with the booking\'s')

  await sleep(untilEnd(booking) + 100)
  t.equal((await read(app, booking.id)).status, 'PENDING', 'past the old end, the hold still stands')
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability, { total: 3, available: 1, held: 2, booked: 0 })
  t.equal((await app.inject({ method: 'POST', url: '/bookings', payload: { show_id: show.id, quantity: 2 } })).json().code, 'insufficient_seats')
  const confirmed = await app.inject({ method: 'POST', url: `/bookings/${booking.id}/confirm` })
  t.equal(confirmed.json().status, 'CONFIRMED', 'and it can be confirmed after the old end')
})

t.test('extensions stop at MAX_HOLD_SECONDS after the hold was placed, and then answer extension_limit', async (t) => {
  const { app } = await testApp(t, { holdSeconds: 3, maxHoldSeconds: 4 })
  const show = await createShow(app, { total_seats: 2 })
  const booking = await holdOk(app, { show_id: show.id, quantity: 1 })
  const cap = new Date(Date.parse(booking.created_at) + 4000).toISOString()
  await sleep(1500)
  const capped = await extend(app, booking.id)
  t.equal(capped.statusCode, 200)
  t.equal(capped.json().hold_expires_at, cap, 'a window from now would pass the cap: it ends at the cap')
  const refused = await extend(app, booking.id)
  t.equal(refused.statusCode, 409)
  t.match(refused.json(), { code: 'extension_limit', status: 409, max_hold_expires_at: cap })
  t.equal((await read(app, booking.id)).hold_expires_at, cap, 'the refusal changed nothing')

  const metrics = (await app.inject('/metrics')).body
  t.match(metrics, /booking_operations_total\{operation="extend",outcome="ok"\} 1\n/)
  t.match(metrics, /booking_operations_total\{operation="extend",outcome="extension_limit"\} 1\n/)
})

t.test('confirmed, cancelled, lapsed and unknown bookings are not extended', async (t) => {
  const { app } = await testApp(t, { holdSeconds: 2 })
  const show = await createShow(app, { total_seats: 5 })
  const [confirmed, cancelled, lapsed] = await Promise.all([1, 2, 3].map(async () => await holdOk(app, { show_id: show.id, quantity: 1 }))) as [Booking, Booking, Booking]
  await app.inject({ method: 'POST', url: `/bookings/${confirmed.id}/confirm` })
  await app.inject({ method: 'POST', url: `/bookings/${cancelled.id}/cancel` })
  await sleep(untilEnd(lapsed) + 50)
  for (const [booking, code, status] of [[confirmed, 'booking_confirmed', 'CONFIRMED'], [cancelled, 'booking_cancelled', 'CANCELLED'], [lapsed, 'hold_expired', 'EXPIRED']] as const) {
    const response = await extend(app, booking.id)
    t.equal(response.statusCode, 409, code)
    t.match(response.json(), { code, type: `/problems/${code}` })
    const after = await read(app, booking.id)
    t.equal(after.status, status, `still ${status}`)
    t.equal(after.hold_expires_at, booking.hold_expires_at, 'its end unchanged')
  }
  for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
    t.match((await extend(app, id)).json(), { status: 404, code: 'booking_not_found' })
  }
  const withBody = await app.inject({ method: 'POST', url: `/bookings/${confirmed.id}/extend`, payload: { seconds: 60 } })
  t.match(withBody.json(), { status: 400, code: 'validation_failed' })
})

t.test('an extension that gets its locks only after the hold ended answers hold_expired, and nothing contradicts it', async (t) => {
  const { app, url } = await testApp(t, { holdSeconds: 2 })
  const show = await createShow(app, { total_seats: 3 })
  const booking = await holdOk(app, { show_id: show.id, seats: ['2'] })
  await sleep(untilEnd(booking) - 300)
  const release = await lockSeats(t, url, show.id, ['2'])
  const extending = extend(app, booking.id)
  await sleep(untilEnd(booking) + 200)
  t.equal((await read(app, booking.id)).status, 'EXPIRED', 'a reader after the end sees EXPIRED')
  await sleep(300)
  await release()
  const extended = await extending
  t.equal(extended.statusCode, 409)
  t.match(extended.json(), { code: 'hold_expired' })
  const after = await read(app, booking.id)
  t.equal(after.status, 'EXPIRED', 'and it stays EXPIRED')
  t.equal(after.hold_expires_at, booking.hold_expires_at)
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability, { total: 3, available: 3, held: 0, booked: 0 })
})

t.test('an extension decided before the end wins even when it commits after it: the hold never reads EXPIRED', async (t) => {
  const { app, url } = await testApp(t, { holdSeconds: 2 })
  const show = await createShow(app, { total_seats: 3 })
  const booking = await holdOk(app, { show_id: show.id, seats: ['2'] })
  await sleep(untilEnd(booking) - 500)
  const release = await lockSeats(t, url, show.id, ['2'])
  const extending = extend(app, booking.id)
  await sleep(200)
  await release()
  const extended = await extending
  t.equal(extended.statusCode, 200, extended.body)
  const seen = new Set<string>()
  while (untilEnd(booking) > -300) {
    seen.add((await read(app, booking.id)).status)
    await sleep(20)
  }
  t.same([...seen], ['PENDING'], 'readers before and after the old end see PENDING only')
  // The sweep after the old end leaves the extended hold alone.
  t.equal((await app.engine.sweepExpiredHolds()).expired, 0)
  t.equal((await read(app, booking.id)).status, 'PENDING')
})

t.test('extensions racing the sweep at the hold\'s end: each hold is either extended or expired, never both', async (t) => {
  const { app, db } = await testApp(t, { holdSeconds: 3 })
  const show = await createShow(app, { total_seats: 40 })
  const bookings = await Promise.all(Array.from({ length: 40 }, async (_, i) => await holdOk(app, { show_id: show.id, seats: [String(i + 1)] })))
  const last = bookings.reduce((latest, booking) => booking.hold_expires_at > latest.hold_expires_at ? booking : latest)
  const first = bookings.reduce((earliest, booking) => booking.hold_expires_at < earliest.hold_expires_at ? booking : earliest)
  // When each sweep began: one that began after an extended hold's new end may expire it.
  const sweepsBegan: number[] = []
  const sweep = async (): Promise<void> => {
    sweepsBegan.push(Date.now())
    await app.engine.sweepExpiredHolds()
  }
  // Each extension sent from 500 ms before its hold's end to 475 ms after it, while sweeps run.
  const [answers] = await Promise.all([
    Promise.all(bookings.map(async (booking, i) => {
      await sleep(untilEnd(booking) + (i - 20) * 25)
      return await extend(app, booking.id)
    })),
    (async () => {
      await sleep(untilEnd(first) - 100)
      while (untilEnd(last) > -600) {
        await sweep()
        await sleep(10)
      }
    })()
  ])
  await sleep(untilEnd(last) + 50)
  await sweep()
  const extended = answers.filter((answer) => answer.statusCode === 200).length
  t.ok(extended > 0 && extended < bookings.length, `${extended} of ${bookings.length} extended, the rest too late`)
  // On a slow machine the sweeps may run past an extended hold's new end (3 s after the extension)
  // and expire it then, at that end: right, and counted apart.
  let lapsedSinceExtended = 0
  for (const [i, answer] of answers.entries()) {
    const booking = bookings[i]!
    const row = await db.selectFrom('bookings').select(['status', 'hold_expires_at', 'expired_at'])
      .where('id', '=', booking.id).executeTakeFirstOrThrow()
    if (answer.statusCode === 200) {
      const newEnd: string = answer.json().hold_expires_at
      t.equal(row.hold_expires_at.toISOString(), newEnd)
      const sweptSince = sweepsBegan.some((began) => began >= Date.parse(newEnd))
      if (row.status === 'EXPIRED' && sweptSince) {
        lapsedSinceExtended++
        t.equal(row.expired_at?.toISOString(), newEnd, 'an extended hold expires at its new end')
      } else {
        t.equal(row.status, 'PENDING', 'an extended hold is not expired by the sweep before its new end')
      }
    } else {
      t.match(answer.json(), { code: 'hold_expired' })
      t.equal(row.status, 'EXPIRED', 'a refused extension left the hold to expire')
      t.equal(row.expired_at?.toISOString(), booking.hold_expires_at, 'at its original end')
    }
  }
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM seats WHERE show_id = ${show.id} AND hold_expires_at IS NOT NULL`.execute(db)
  t.equal(rows[0]?.n, extended - lapsedSinceExtended, 'exactly the extended holds still hold a seat, until their new end')
})
