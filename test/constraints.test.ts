import { sql } from 'kysely'
import t from 'tap'
import { createBookingEngine } from '../src/engine/index.ts'
import { freshDatabase } from './helpers/database.ts'

const settings = { holdSeconds: 120, maxSeatsPerBooking: 10, maxSeatsPerShow: 1000 }
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
