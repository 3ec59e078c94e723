import { sql, type RawBuilder } from 'kysely'
import type { Booking } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import { toBooking, type BookingRow } from './bookings.ts'
import { isUuid } from './cursor.ts'
import { EngineError } from './errors.ts'

export type HoldRequest =
  | { showId: string, quantity: number }
  | { showId: string, labels: string[] }

type Nullable<T> = { [K in keyof T]: T[K] | null }

interface HoldResult extends Nullable<BookingRow> {
  /** 1 when the show exists and has not started. */
  show_open: number
  /** The free seats the statement found and locked, up to the quantity asked. */
  found: number
  /** Labels of the seats found free. */
  free_labels: string[] | null
}

/**
 * The part every hold shares. Given `show` (the open show, or no row) and `picked` (the free
 * seats chosen, locked), it writes the booking, its seat list and the seats' new holder, but only
 * when every asked-for seat was picked: all or nothing, in the same statement.
 */
function claimPicked (showId: string, quantity: RawBuilder<number>, holdSeconds: number): RawBuilder<HoldResult> {
  return sql<HoldResult>`
  booking AS (
    INSERT INTO bookings (show_id, quantity, hold_expires_at)
    SELECT id, ${quantity}, now() + make_interval(secs => ${holdSeconds}) FROM show
    WHERE (SELECT count(*) FROM picked) = ${quantity}
    RETURNING *
  ), listed AS (
    INSERT INTO booking_seats (booking_id, show_id, seat_no)
    SELECT booking.id, booking.show_id, picked.seat_no FROM booking, picked
  ), taken AS (
    UPDATE seats SET booking_id = booking.id, hold_expires_at = booking.hold_expires_at
    FROM booking, picked
    WHERE seats.show_id = ${showId} AND seats.seat_no = picked.seat_no
    RETURNING seats.seat_no, seats.label
  )
  SELECT (SELECT count(*) FROM show)::int AS show_open,
         (SELECT count(*) FROM picked)::int AS found,
         (SELECT array_agg(label ORDER BY seat_no) FROM picked) AS free_labels,
         b.id, b.show_id, b.status, b.quantity, (SELECT array_agg(label ORDER BY seat_no) FROM taken) AS seats,
         b.hold_expires_at, b.created_at, b.confirmed_at, b.cancelled_at
  FROM (SELECT) AS one LEFT JOIN booking b ON true`
}

/**
 * The seat count goes into the statement's text, not its parameters: with a parameter in its
 * LIMITs, PostgreSQL estimates a generic plan as costlier and re-plans the hold on every execution,
 * which costs about as much as running it. With the count in the text, each count (at most
 * MAX_SEATS_PER_BOOKING of them) is planned once per connection.
 */
function seatCount (count: number): RawBuilder<number> {
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`seat count must be a positive integer, not ${count}`)
  return sql.lit(count)
}

const openShow = (showId: string) => sql`show AS (SELECT id FROM shows WHERE id = ${showId} AND start_time > now())`

/**
 * Holds the lowest `quantity` free seats. A seat is free when it has no holder or its hold has
 * lapsed; the two kinds come from two partial indexes, so neither search walks held seats.
 *
 * With `wait` false, seats locked by other in-flight holds are skipped (SKIP LOCKED): the fast
 * path, where concurrent holds spread over different seats instead of queueing. When that pass
 * comes up short it may only be because other requests had the seats locked for a moment, so the
 * caller retries with `wait` true: each locked seat is waited for and re-checked (the lock is
 * applied below LIMIT, so seats that turn out taken do not count), and a shortfall then is real.
 */
export function quantityStatement (showId: string, seats: number, holdSeconds: number, wait: boolean): RawBuilder<HoldResult> {
  const quantity = seatCount(seats)
  const lock = sql.raw(wait ? 'FOR UPDATE' : 'FOR UPDATE SKIP LOCKED')
  return sql<HoldResult>`
  WITH ${openShow(showId)}, free AS (
    -- seat_no + 0 is the order of seats_free_idx, and one no other index offers.
    SELECT seat_no, label FROM seats
    WHERE show_id = ${showId} AND booking_id IS NULL AND EXISTS (SELECT FROM show)
    ORDER BY seat_no + 0
    LIMIT ${quantity}
    ${lock}
  ), lapsed AS (
    -- Through seats_held_idx. Ordering by seat_no + 0 keeps the planner off the primary key's
    -- order, which would walk the show seat by seat.
    SELECT seat_no, label FROM seats
    WHERE show_id = ${showId} AND hold_expires_at <= now() AND EXISTS (SELECT FROM show)
    ORDER BY seat_no + 0
    LIMIT ${quantity}
    ${lock}
  ), picked AS (
    SELECT seat_no, label FROM free
    UNION ALL
    SELECT seat_no, label FROM lapsed
    ORDER BY seat_no
    LIMIT ${quantity}
  ), ${claimPicked(showId, quantity, holdSeconds)}`
}

/** Holds exactly the seats labelled `labels`, all or none, waiting for any that are locked. */
function labelsStatement (showId: string, labels: string[], holdSeconds: number): RawBuilder<HoldResult> {
  return sql<HoldResult>`
  WITH ${openShow(showId)}, wanted AS (
    SELECT seat_no, label, (booking_id IS NULL OR hold_expires_at <= now()) AS free FROM seats
    WHERE show_id = ${showId} AND label = ANY(${labels}::text[]) AND EXISTS (SELECT FROM show)
    ORDER BY seat_no
    FOR UPDATE
  ), picked AS (
    SELECT seat_no, label FROM wanted WHERE free
  ), ${claimPicked(showId, seatCount(labels.length), holdSeconds)}`
}

const deadlockDetected = '40P01'

/**
 * Runs one hold statement. Inside a transaction it runs under a savepoint that is rolled back
 * when the hold did not happen, so the seats it locked are let go at once, as they are when the
 * statement commits on its own. Lock waits in seat order make deadlocks rare; one is retried.
 */
async function attempt (db: Database, statement: RawBuilder<HoldResult>, inTransaction: boolean): Promise<HoldResult> {
  for (let tries = 1; ; tries++) {
    if (inTransaction) await sql`SAVEPOINT hold_attempt`.execute(db)
    try {
      const { rows: [result] } = await statement.execute(db)
      if (result === undefined) throw new Error('hold statement returned no row')
      if (inTransaction) await sql.raw(result.id === null ? 'ROLLBACK TO SAVEPOINT hold_attempt' : 'RELEASE SAVEPOINT hold_attempt').execute(db)
      return result
    } catch (error) {
      if (inTransaction) await sql`ROLLBACK TO SAVEPOINT hold_attempt`.execute(db)
      if ((error as { code?: string }).code !== deadlockDetected || tries >= 3) throw error
    }
  }
}

function held (result: HoldResult): Booking | undefined {
  return result.id === null ? undefined : toBooking(result as BookingRow)
}

async function whyShowClosed (db: Database, showId: string): Promise<EngineError> {
  const show = await db.selectFrom('shows').select('start_time').where('id', '=', showId).executeTakeFirst()
  return show === undefined
    ? new EngineError('show_not_found', `No show with id ${showId}`)
    : new EngineError('sales_closed', `The show started at ${show.start_time.toISOString()}; sales are closed`)
}

/** Places a hold (a PENDING booking) that lasts `holdSeconds`. */
export async function placeHold (db: Database, request: HoldRequest, holdSeconds: number, inTransaction = false): Promise<Booking> {
  if (!isUuid(request.showId)) throw new EngineError('show_not_found', `No show with id ${request.showId}`)
  if ('labels' in request) {
    const result = await attempt(db, labelsStatement(request.showId, request.labels, holdSeconds), inTransaction)
    if (result.show_open === 0) throw await whyShowClosed(db, request.showId)
    const booking = held(result)
    if (booking !== undefined) return booking
    const free = new Set(result.free_labels)
    const unavailable = request.labels.filter((label) => !free.has(label))
    throw new EngineError('seats_unavailable', `Seats ${unavailable.join(', ')} are not free`, { unavailable })
  }

  const fast = await attempt(db, quantityStatement(request.showId, request.quantity, holdSeconds, false), inTransaction)
  if (fast.show_open === 0) throw await whyShowClosed(db, request.showId)
  const fastBooking = held(fast)
  if (fastBooking !== undefined) return fastBooking

  // A lapsed seat that the sweep releases while this pass waits for its lock is re-checked as a
  // held one and passed over, though free all along; a second exact pass sees it as free.
  let available = 0
  for (let pass = 0; pass < 2; pass++) {
    const exact = await attempt(db, quantityStatement(request.showId, request.quantity, holdSeconds, true), inTransaction)
    if (exact.show_open === 0) throw await whyShowClosed(db, request.showId)
    const booking = held(exact)
    if (booking !== undefined) return booking
    available = exact.found
  }
  throw new EngineError('insufficient_seats', `Asked for ${request.quantity} seats, ${available} are free`, { available })
}
