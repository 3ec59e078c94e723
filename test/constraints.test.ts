import { sql } from 'kysely'
import pg from 'pg'
import t from 'tap'
import { createBookingEngine } from '../src/engine/index.ts'
import { sleep } from './helpers/app.ts'
import { freshDatabase } from './helpers/database.ts'

const settings = { holdSeconds: 120, maxHoldSeconds: 900, maxSeatsPerBooking: 10, maxSeatsPerShow: 1000 }
const inAnHour = () => new Date(Date.now() + 3600_000).toISOString()

t.test('the database itself refuses to give one seat to two live bookings', async (t) => {
  const { db } = await freshDatabase(t)
  const engine = createBookingEngine(db, settings)
  const show = await engine.createShow({ name: 'Constraints', start_time: inAnHour(), total_seats: 3 })
  const first = await engine.hold({ showId: show.id, labels: ['1'] })

  // A second booking that lists seat 1 and tries to become its holder.
  const [second] = (await sql<{ id: string }>`
    INSERT INTO bookings (show_id, quantity, hold_expires_at) VALUES (${show.id}, 1, now() + interval '1 minute') RETURNING id`.execute(db)).rows
  await sql`INSERT INTO booking_seats (booking_id, show_id, seat_no) VALUES (${second!.id}, ${show.id}, 1)`.execute(db)
  await t.rejects(
    sql`UPDATE seats SET booking_id = ${second!.id} WHERE show_id = ${show.id} AND seat_no = 1`.execute(db),
    /belongs to live booking/,
    'a held seat cannot change holder'
  )

  await engine.confirm(first.id)
  await t.rejects(
    sql`UPDATE seats SET booking_id = ${second!.id} WHERE show_id = ${show.id} AND seat_no = 1`.execute(db),
    /belongs to live booking/,
    'nor can a booked one'
  )

  await t.rejects(
    sql`INSERT INTO seats (show_id, seat_no, label, number) VALUES (${show.id}, 1, '1', 1)`.execute(db),
    /duplicate key/,
    'a seat exists once'
  )
  await t.rejects(
    sql`UPDATE seats SET booking_id = ${second!.id} WHERE show_id = ${show.id} AND seat_no = 2`.execute(db),
    /seats_holder_fkey/,
    'a booking can hold only seats it lists'
  )
})

t.test('the database refuses a confirmation after the hold ended, and statuses outside the contract', async (t) => {
  const { db } = await freshDatabase(t)
  const engine = createBookingEngine(db, settings)
  const show = await engine.createShow({ name: 'Checks', start_time: inAnHour(), total_seats: 2 })
  const booking = await engine.hold({ showId: show.id, quantity: 1 })
  await t.rejects(
    sql`UPDATE bookings SET status = 'CONFIRMED', confirmed_at = hold_expires_at + interval '1 second' WHERE id = ${booking.id}`.execute(db),
    /bookings_check/
  )
  await t.rejects(sql`UPDATE bookings SET status = 'SOLD' WHERE id = ${booking.id}`.execute(db), /bookings_status_check/)
  await t.rejects(sql`UPDATE bookings SET quantity = 0 WHERE id = ${booking.id}`.execute(db), /bookings_quantity_check/)
})

t.test('seats belong to a show that exists, for good', async (t) => {
  const { db, url } = await freshDatabase(t)
  const engine = createBookingEngine(db, settings)
  const show = await engine.createShow({ name: 'Seated', start_time: inAnHour(), total_seats: 2 })
  const seat = (showId: string, seatNo: number) => sql`(${showId}::uuid, ${seatNo}, ${String(seatNo)}, ${seatNo})`
  const insertSeats = (...rows: ReturnType<typeof seat>[]) =>
    sql`INSERT INTO seats (show_id, seat_no, label, number) VALUES ${sql.join(rows)}`.execute(db)
  const noShow = '00000000-0000-4000-8000-000000000000'

  await t.rejects(insertSeats(seat(noShow, 1)), /names show 00000000-0000-4000-8000-000000000000, which does not exist/, 'no seat for a show that does not exist')
  await t.rejects(insertSeats(seat(show.id, 3), seat(noShow, 1)), /does not exist/, 'nor in a statement that also seats an existing show')
  await insertSeats(seat(show.id, 3))
  t.pass('seats for an existing show are added')

  const [other] = (await sql<{ id: string }>`
    INSERT INTO shows (name, start_time, layout, total_seats) VALUES ('Seatless', now() + interval '1 day', 'numbered', 1) RETURNING id`.execute(db)).rows
  await t.rejects(sql`UPDATE seats SET show_id = ${other!.id} WHERE show_id = ${show.id} AND seat_no = 3`.execute(db), /cannot move to another show/, 'a seat stays in its show')
  await t.rejects(sql`DELETE FROM shows WHERE id = ${show.id}`.execute(db), /still has seats/, 'a show with seats cannot be deleted')
  await t.rejects(sql`UPDATE shows SET id = gen_random_uuid() WHERE id = ${show.id}`.execute(db), /still has seats/, 'nor get another id')
  await sql`UPDATE shows SET name = 'Renamed' WHERE id = ${show.id}`.execute(db)
  t.pass('its other columns change freely')

  // Each order of a delete and a concurrent statement seating the same show ends with neither an
  // orphan seat nor a lost delete.
  const session = new pg.Client({ connectionString: url })
  await session.connect()
  t.teardown(async () => { await session.end() })
  await session.query('BEGIN')
  await session.query('INSERT INTO seats (show_id, seat_no, label, number) VALUES ($1, 1, \'1\', 1)', [other!.id])
  const deleting = sql`DELETE FROM shows WHERE id = ${other!.id}`.execute(db)
  const deleteSettled = deleting.then(() => 'deleted', (error: Error) => error.message)
  await sleep(200)
  t.equal(await Promise.race([deleteSettled, sleep(0).then(() => 'waiting')]), 'waiting', 'a delete waits for seats being written for its show')
  await session.query('COMMIT')
  t.match(await deleteSettled, /still has seats/, 'and then refuses')

  const [third] = (await sql<{ id: string }>`
    INSERT INTO shows (name, start_time, layout, total_seats) VALUES ('Gone', now() + interval '1 day', 'numbered', 1) RETURNING id`.execute(db)).rows
  await session.query('BEGIN')
  await session.query('DELETE FROM shows WHERE id = $1', [third!.id])
  const seating = insertSeats(seat(third!.id, 1)).then(() => 'seated', (error: Error) => error.message)
  await sleep(200)
  t.equal(await Promise.race([seating, sleep(0).then(() => 'waiting')]), 'waiting', 'seats wait for a delete of their show under way')
  await session.query('COMMIT')
  t.match(await seating, /does not exist/, 'and then are refused')
  t.same((await sql<{ n: number }>`SELECT count(*)::int AS n FROM seats WHERE show_id NOT IN (SELECT id FROM shows)`.execute(db)).rows, [{ n: 0 }], 'no seat is left without its show')
})
