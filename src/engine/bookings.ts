import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely'
import type { Booking, BookingStatus } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import type { DB } from '../db/types.ts'
import { decodeCursor, defaultPageSize, isUuid, toPage } from './cursor.ts'
import { EngineError } from './errors.ts'
import { getShow } from './shows.ts'

/** A bookings row with its seat labels, as every booking statement returns it. */
export interface BookingRow {
  id: string
  show_id: string
  status: BookingStatus
  quantity: number
  seats: string[]
  hold_expires_at: Date
  created_at: Date
  confirmed_at: Date | null
  cancelled_at: Date | null
}

/**
 * The status a reader sees: a PENDING hold whose end has passed is EXPIRED at once, whether or
 * not the sweep has written that yet.
 */
export const effectiveStatus = sql<BookingStatus>`
  CASE WHEN b.status = 'PENDING' AND b.hold_expires_at <= now() THEN 'EXPIRED' ELSE b.status END`

/** Labels of a booking's seats in seat order; `b` is the booking. */
export const seatLabels = sql<string[]>`
  (SELECT coalesce(array_agg(s.label ORDER BY s.seat_no), '{}')
   FROM booking_seats bs JOIN seats s ON s.show_id = bs.show_id AND s.seat_no = bs.seat_no
   WHERE bs.booking_id = b.id)`

export function toBooking (row: BookingRow): Booking {
  return {
    id: row.id,
    show_id: row.show_id,
    status: row.status,
    quantity: row.quantity,
    seats: row.seats,
    hold_expires_at: row.hold_expires_at.toISOString(),
    created_at: row.created_at.toISOString(),
    confirmed_at: row.confirmed_at?.toISOString() ?? null,
    cancelled_at: row.cancelled_at?.toISOString() ?? null
  }
}

function selectBookings (db: Database) {
  return db.selectFrom('bookings as b').select([
    'b.id', 'b.show_id', effectiveStatus.as('status'), 'b.quantity', seatLabels.as('seats'),
    'b.hold_expires_at', 'b.created_at', 'b.confirmed_at', 'b.cancelled_at'
  ])
}

function bookingNotFound (id: string): EngineError {
  return new EngineError('booking_not_found', `No booking with id ${id}`)
}

export async function getBooking (db: Database, id: string): Promise<Booking> {
  const row = isUuid(id) ? await selectBookings(db).where('b.id', '=', id).executeTakeFirst() : undefined
  if (row === undefined) throw bookingNotFound(id)
  return toBooking(row)
}

function statusFilter (eb: ExpressionBuilder<DB & { b: DB['bookings'] }, 'b'>, status: BookingStatus): Expression<SqlBool> {
  switch (status) {
    case 'PENDING': return eb.and([eb('b.status', '=', 'PENDING'), eb('b.hold_expires_at', '>', sql<Date>`now()`)])
    case 'EXPIRED': return eb.or([
      eb('b.status', '=', 'EXPIRED'),
      eb.and([eb('b.status', '=', 'PENDING'), eb('b.hold_expires_at', '<=', sql<Date>`now()`)])
    ])
    default: return eb('b.status', '=', status)
  }
}

/** A show's bookings, oldest first, optionally of one (effective) status. */
export async function listShowBookings (db: Database, showId: string, options: { status?: BookingStatus, limit?: number, cursor?: string }) {
  const show = await getShow(db, showId)
  const after = decodeCursor(options.cursor)
  let query = selectBookings(db).where('b.show_id', '=', show.id)
  if (options.status !== undefined) {
    const status = options.status
    query = query.where((eb) => statusFilter(eb, status))
  }
  if (after !== undefined) query = query.where((eb) => eb(eb.refTuple('b.created_at', 'b.id'), '>', eb.tuple(new Date(after[0]), after[1])))
  const rows = await query.orderBy('b.created_at').orderBy('b.id').limit((options.limit ?? defaultPageSize) + 1).execute()
  return toPage(rows, options.limit ?? defaultPageSize, (row) => [row.created_at.toISOString(), row.id], toBooking)
}

/** The booking a data-modifying CTE returned, with its seat labels. */
const bookingFrom = (cte: string) => sql`
  SELECT b.id, b.show_id, b.status, b.quantity, ${seatLabels} AS seats,
         b.hold_expires_at, b.created_at, b.confirmed_at, b.cancelled_at
  FROM ${sql.table(cte)} b`

/**
 * Confirms a live hold in one statement. It locks the booking, then the seats it still holds, and
 * writes only when it holds all of them: a hold that lapsed, or whose seat another hold took the
 * instant it lapsed, changes nothing. Confirm and expiry both need the booking's row lock and
 * check the end of the hold under it, so they never both win.
 */
const confirmStatement = (id: string) => sql<BookingRow>`
  WITH target AS (
    SELECT id, quantity FROM bookings
    WHERE id = ${id} AND status = 'PENDING' AND hold_expires_at > now()
    FOR UPDATE
  ), held AS (
    SELECT seats.show_id, seats.seat_no
    FROM target
    JOIN booking_seats bs ON bs.booking_id = target.id
    JOIN seats ON seats.show_id = bs.show_id AND seats.seat_no = bs.seat_no
    WHERE seats.booking_id = target.id AND seats.hold_expires_at > now()
    FOR UPDATE OF seats
  ), confirmable AS (
    SELECT id FROM target WHERE quantity = (SELECT count(*) FROM held)
  ), booked AS (
    UPDATE seats SET hold_expires_at = NULL
    FROM held
    WHERE seats.show_id = held.show_id AND seats.seat_no = held.seat_no AND EXISTS (SELECT FROM confirmable)
  ), confirmed AS (
    UPDATE bookings SET status = 'CONFIRMED', confirmed_at = now()
    FROM confirmable
    WHERE bookings.id = confirmable.id
    RETURNING bookings.*
  )
  ${bookingFrom('confirmed')}`

/** Cancels a live hold or a confirmed booking and gives its seats back, in one statement. */
const cancelStatement = (id: string) => sql<BookingRow>`
  WITH target AS (
    SELECT id FROM bookings
    WHERE id = ${id} AND (status = 'CONFIRMED' OR (status = 'PENDING' AND hold_expires_at > now()))
    FOR UPDATE
  ), released AS (
    UPDATE seats SET booking_id = NULL, hold_expires_at = NULL
    FROM target, booking_seats bs
    WHERE bs.booking_id = target.id AND seats.show_id = bs.show_id AND seats.seat_no = bs.seat_no
      AND seats.booking_id = target.id
  ), cancelled AS (
    UPDATE bookings SET status = 'CANCELLED', cancelled_at = now()
    FROM target
    WHERE bookings.id = target.id
    RETURNING bookings.*
  )
  ${bookingFrom('cancelled')}`

export async function confirmBooking (db: Database, id: string): Promise<Booking> {
  if (!isUuid(id)) throw bookingNotFound(id)
  const { rows: [row] } = await confirmStatement(id).execute(db)
  if (row !== undefined) return toBooking(row)
  // Nothing changed: say why from the booking as it is now.
  const booking = await getBooking(db, id)
  switch (booking.status) {
    case 'CONFIRMED': return booking
    case 'CANCELLED': throw new EngineError('booking_cancelled', `Booking ${id} was cancelled`)
    case 'EXPIRED': throw new EngineError('hold_expired', `The hold of booking ${id} ended at ${booking.hold_expires_at}`)
    case 'PENDING': throw new Error(`booking ${id} is live but could not be confirmed`)
  }
}

export async function cancelBooking (db: Database, id: string): Promise<Booking> {
  if (!isUuid(id)) throw bookingNotFound(id)
  const { rows: [row] } = await cancelStatement(id).execute(db)
  if (row !== undefined) return toBooking(row)
  const booking = await getBooking(db, id)
  switch (booking.status) {
    case 'CANCELLED': return booking
    case 'EXPIRED': throw new EngineError('hold_expired', `The hold of booking ${id} ended at ${booking.hold_expires_at}`)
    default: throw new Error(`booking ${id} is ${booking.status} but could not be cancelled`)
  }
}
