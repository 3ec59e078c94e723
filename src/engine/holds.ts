import { sql, type RawBuilder } from 'kysely'
import type { Booking } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import { toBooking, type BookingRow } from './bookings.ts'
import { isUuid } from './uuid.ts'
import { retryOnDeadlock } from './deadlocks.ts'
import { EngineError } from './errors.ts'

export type HoldRequest =
  | { showId: string, quantity: number }
  | { showId: string, labels: string[] }

type Nullable<T> = { [K in keyof T]: T[K] | null }

/** What a hold statement answers for each hold it was asked for, in the order they were asked. */
export interface HoldRow extends Nullable<BookingRow> {
  /** The hold's place in the statement, from 1. */
  ord: number
  /** 1 when the show exists and has not started. */
  show_open: number
  /** The free seats the statement found and locked, for all its holds together. */
  found: number
  /** Labels of the seats found free, for a hold of labelled seats only. */
  free_labels: string[] | null
}

/**
 * `asked`: one row per hold in the statement, with its seat count and the number of seats asked
 * for by the holds before it. The picked seats are handed out in that order, lowest to the first.
 */
const askedFor = (quantities: number[]) => sql`asked AS (
    SELECT ord::int, q, (sum(q) OVER (ORDER BY ord) - q)::int AS before
    FROM unnest(${quantities}::int[]) WITH ORDINALITY AS a(q, ord)
  )`

// Hold statements read the clock at their own start, never at their transaction's: a hold decided
// inside a longer transaction (with an Idempotency-Key) must see the seats that lapsed meanwhile.
// statement_timestamp() is stable within the statement, so index scans can use it as a bound.
const openShow = (showId: string) => sql`show AS (SELECT id FROM shows WHERE id = ${showId} AND start_time > statement_timestamp())`

/**
 * The part every hold statement shares. Given `show` (the open show, or no row), `asked` and
 * `picked` (the free seats chosen, locked, numbered `n` from 1 in seat order), it writes a booking
 * for every hold whose seats were all picked, their seat lists and the seats' new holder, in the
 * same statement: a hold gets all its seats or none. Holds are granted in order while the picked
 * seats last, so a short pick leaves the last holds of the statement ungranted.
 */
function claimPicked (showId: string, holdSeconds: number, freeLabels: RawBuilder<string[] | null>): RawBuilder<HoldRow> {
  return sql<HoldRow>`
  granted AS (
    SELECT ord, q, before, gen_random_uuid() AS id FROM asked
    WHERE EXISTS (SELECT FROM show) AND before + q <= (SELECT count(*) FROM picked)
  ), booking AS (
    INSERT INTO bookings (id, show_id, quantity, created_at, hold_expires_at)
    SELECT granted.id, show.id, granted.q, statement_timestamp(), statement_timestamp() + make_interval(secs => ${holdSeconds})
    FROM granted, show
    RETURNING *
  ), assigned AS (
    SELECT granted.id, picked.seat_no FROM granted
    JOIN picked ON picked.n > granted.before AND picked.n <= granted.before + granted.q
  ), listed AS (
    INSERT INTO booking_seats (booking_id, show_id, seat_no)
    SELECT id, ${showId}, seat_no FROM assigned
  ), taken AS (
    UPDATE seats SET booking_id = booking.id, hold_expires_at = booking.hold_expires_at
    FROM assigned JOIN booking ON booking.id = assigned.id
    WHERE seats.show_id = ${showId} AND seats.seat_no = assigned.seat_no
    RETURNING seats.booking_id, seats.seat_no, seats.label
  )
  SELECT asked.ord, (SELECT count(*) FROM show)::int AS show_open,
         (SELECT count(*) FROM picked)::int AS found,
         ${freeLabels} AS free_labels,
         b.id, b.show_id, b.status, b.quantity,
         (SELECT array_agg(taken.label ORDER BY taken.seat_no) FROM taken WHERE taken.booking_id = b.id) AS seats,
         b.hold_expires_at, b.created_at, b.confirmed_at, b.cancelled_at
  FROM asked LEFT JOIN granted g ON g.ord = asked.ord LEFT JOIN booking b ON b.id = g.id
  ORDER BY asked.ord`
}

/**
 * Seats whose hold has lapsed but which the sweep has not released yet, for the skip-locked pass:
 * the `sum(q)` that lapsed first, found in that order through seats_held_idx, so the cost is that
 * of the holds asked for, however many seats have lapsed. They are locked in seat order, as every
 * writer locks seats. The picked ones are taken; the statement releases the others (lower free
 * seats were picked instead), so they rejoin seats_free_idx in seat order and later holds find
 * them there. (Reading more than `sum(q)` to release more at once cost a quarter of the holds/s
 * of a sale on lapsed seats in `make bench`.)
 */
const oldestLapsed = (showId: string) => sql`lapsed AS (
    SELECT s.seat_no, s.label FROM (
      SELECT hold_expires_at, seat_no FROM seats
      WHERE show_id = ${showId} AND hold_expires_at <= statement_timestamp() AND EXISTS (SELECT FROM show)
      ORDER BY hold_expires_at, seat_no
      LIMIT (SELECT sum(q) FROM asked)
    ) AS oldest
    -- The whole key of seats_held_idx: one entry a seat. A seat taken, released or confirmed
    -- since (its hold's end changed) fails the re-check made under the lock, and is passed over.
    JOIN seats s ON s.show_id = ${showId} AND s.hold_expires_at = oldest.hold_expires_at AND s.seat_no = oldest.seat_no
    ORDER BY s.seat_no
    FOR UPDATE OF s SKIP LOCKED
  )`

/**
 * Every lapsed seat, lowest first, for the exact pass: each locked one is waited for and
 * re-checked, and the lock is applied below LIMIT, so seats that turn out taken do not count and
 * the next ones are tried. It sorts all lapsed seats of the show; the exact pass runs only when the
 * skip-locked pass came up short. Ordering by seat_no + 0 keeps the planner off the primary key's
 * order, which would walk the show seat by seat.
 */
const everyLapsed = (showId: string) => sql`lapsed AS (
    SELECT seat_no, label FROM seats
    WHERE show_id = ${showId} AND hold_expires_at <= statement_timestamp() AND EXISTS (SELECT FROM show)
    ORDER BY seat_no + 0
    LIMIT (SELECT sum(q) FROM asked)
    FOR UPDATE
  )`

/** Lapsed seats the skip-locked pass locked but did not pick, given back to the free seats. */
const releaseUnpicked = (showId: string) => sql`released AS (
    UPDATE seats SET booking_id = NULL, hold_expires_at = NULL
    FROM lapsed
    WHERE seats.show_id = ${showId} AND seats.seat_no = lapsed.seat_no
      AND lapsed.seat_no NOT IN (SELECT seat_no FROM picked)
  ), `

/**
 * Holds the lowest free seats for each of `quantities`, in one statement. A seat is free when it
 * has no holder or its hold has lapsed; the two kinds come from two partial indexes, so neither
 * search walks held seats. The seat total is a subquery, not a parameter: with a parameter in its
 * LIMITs PostgreSQL estimated a generic plan as costlier and re-planned every hold; this way one
 * text serves every batch and is planned once per connection.
 *
 * With `wait` false, seats locked by other in-flight holds are skipped (SKIP LOCKED): the fast
 * path, where concurrent holds spread over different seats instead of queueing. When that pass
 * comes up short it may only be because other requests had the seats locked for a moment, so the
 * caller retries with `wait` true: each locked seat is waited for and re-checked (the lock is
 * applied below LIMIT, so seats that turn out taken do not count), and a shortfall then is real.
 */
export function holdStatement (showId: string, quantities: number[], holdSeconds: number, wait: boolean): RawBuilder<HoldRow> {
  if (quantities.length === 0 || !quantities.every((q) => Number.isSafeInteger(q) && q > 0)) {
    throw new RangeError(`seat counts must be positive integers, not [${quantities.join(', ')}]`)
  }
  return sql<HoldRow>`
  WITH ${openShow(showId)}, ${askedFor(quantities)}, free AS (
    -- seat_no + 0 is the order of seats_free_idx, and one no other index offers.
    SELECT seat_no, label FROM seats
    WHERE show_id = ${showId} AND booking_id IS NULL AND EXISTS (SELECT FROM show)
    ORDER BY seat_no + 0
    LIMIT (SELECT sum(q) FROM asked)
    ${sql.raw(wait ? 'FOR UPDATE' : 'FOR UPDATE SKIP LOCKED')}
  ), ${wait ? everyLapsed(showId) : oldestLapsed(showId)}, picked AS (
    SELECT seat_no, label, row_number() OVER (ORDER BY seat_no) AS n FROM (
      SELECT seat_no, label FROM free
      UNION ALL
      SELECT seat_no, label FROM lapsed
      ORDER BY seat_no
      LIMIT (SELECT sum(q) FROM asked)
    ) AS either
  ), ${wait ? sql`` : releaseUnpicked(showId)}${claimPicked(showId, holdSeconds, sql`NULL::text[]`)}`
}

/** Holds exactly the seats labelled `labels`, all or none, waiting for any that are locked. */
function labelsStatement (showId: string, labels: string[], holdSeconds: number): RawBuilder<HoldRow> {
  return sql<HoldRow>`
  WITH ${openShow(showId)}, ${askedFor([labels.length])}, wanted AS (
    SELECT seat_no, label, (booking_id IS NULL OR hold_expires_at <= statement_timestamp()) AS free FROM seats
    WHERE show_id = ${showId} AND label = ANY(${labels}::text[]) AND EXISTS (SELECT FROM show)
    ORDER BY seat_no
    FOR UPDATE
  ), picked AS (
    SELECT seat_no, label, row_number() OVER (ORDER BY seat_no) AS n FROM wanted WHERE free
  ), ${claimPicked(showId, holdSeconds, sql`(SELECT array_agg(label ORDER BY seat_no) FROM picked)`)}`
}

/**
 * Runs one hold statement for one hold. Inside a transaction it runs under a savepoint that is
 * rolled back when the hold did not happen, so the seats it locked are let go at once, as they are
 * when the statement commits on its own.
 */
async function attempt (db: Database, statement: RawBuilder<HoldRow>, inTransaction: boolean): Promise<HoldRow> {
  return await retryOnDeadlock(async () => {
    if (inTransaction) await sql`SAVEPOINT hold_attempt`.execute(db)
    try {
      const { rows: [result] } = await statement.execute(db)
      if (result === undefined) throw new Error('hold statement returned no row')
      if (inTransaction) await sql.raw(result.id === null ? 'ROLLBACK TO SAVEPOINT hold_attempt' : 'RELEASE SAVEPOINT hold_attempt').execute(db)
      return result
    } catch (error) {
      if (inTransaction) await sql`ROLLBACK TO SAVEPOINT hold_attempt`.execute(db)
      throw error
    }
  })
}

/** The booking a hold statement's row granted, or undefined when that hold got no seats. */
export function grantedBooking (result: HoldRow): Booking | undefined {
  return result.id === null ? undefined : toBooking(result as BookingRow)
}

async function whyShowClosed (db: Database, showId: string): Promise<EngineError> {
  const show = await db.selectFrom('shows').select('start_time').where('id', '=', showId).executeTakeFirst()
  return show === undefined
    ? new EngineError('show_not_found', `No show with id ${showId}`)
    : new EngineError('sales_closed', `The show started at ${show.start_time.toISOString()}; sales are closed`)
}

/** The skip-locked pass of a quantity hold; a HoldBatcher runs it together with other holds of the show. */
export type FastPass = (showId: string, quantity: number) => Promise<HoldRow>

export interface PlaceHoldOptions {
  /** The hold is part of the caller's transaction: each statement runs under a savepoint. */
  inTransaction?: boolean
  fastPass?: FastPass
}

/** Places a hold (a PENDING booking) that lasts `holdSeconds`. */
export async function placeHold (db: Database, request: HoldRequest, holdSeconds: number, options: PlaceHoldOptions = {}): Promise<Booking> {
  const inTransaction = options.inTransaction ?? false
  if (!isUuid(request.showId)) throw new EngineError('show_not_found', `No show with id ${request.showId}`)
  if ('labels' in request) {
    const result = await attempt(db, labelsStatement(request.showId, request.labels, holdSeconds), inTransaction)
    if (result.show_open === 0) throw await whyShowClosed(db, request.showId)
    const booking = grantedBooking(result)
    if (booking !== undefined) return booking
    const free = new Set(result.free_labels)
    const unavailable = request.labels.filter((label) => !free.has(label))
    throw new EngineError('seats_unavailable', `Seats ${unavailable.join(', ')} are not free`, { unavailable })
  }

  const pass = (wait: boolean) => attempt(db, holdStatement(request.showId, [request.quantity], holdSeconds, wait), inTransaction)
  const fast = await (options.fastPass?.(request.showId, request.quantity) ?? pass(false))
  if (fast.show_open === 0) throw await whyShowClosed(db, request.showId)
  const fastBooking = grantedBooking(fast)
  if (fastBooking !== undefined) return fastBooking

  // A lapsed seat that the sweep releases while this pass waits for its lock is re-checked as a
  // held one and passed over, though free all along; a second exact pass sees it as free.
  let available = 0
  for (let tries = 0; tries < 2; tries++) {
    const exact = await pass(true)
    if (exact.show_open === 0) throw await whyShowClosed(db, request.showId)
    const booking = grantedBooking(exact)
    if (booking !== undefined) return booking
    available = exact.found
  }
  throw new EngineError('insufficient_seats', `Asked for ${request.quantity} seats, ${available} are free`, { available })
}
