import { expressionBuilder, sql, type ExpressionBuilder } from 'kysely'
import type { Database } from '../db/database.ts'
import type { DB } from '../db/types.ts'
import { insertIntoAliased } from '../db/aliased-insert.ts'
import { jsonArray, jsonRows } from '../db/json-rows.ts'
import { seatNumbersOf } from './seat-labels.ts'

/**
 * The statements of a hold, each about one show and filtered by it, so that on a distributed
 * database every one of them runs on the show's node. A hold is one transaction of them: find and
 * lock seats (pickSeats or pickLabelledSeats), then write the bookings (insertBookings), their seat
 * lists (listBookingSeats) and the seats' new holders (markSeats), in the order the foreign keys
 * need. Which hold gets which seats is decided between the two, in seat-assignment.ts.
 *
 * Hold statements read the clock at their own start, never at their transaction's: a hold decided
 * inside a longer transaction (with an Idempotency-Key) must see the seats that lapsed meanwhile.
 * statement_timestamp() is stable within a statement, so index scans can use it as a bound.
 */

const eb = expressionBuilder<DB, never>()
const statementTime = eb.fn<Date>('statement_timestamp', [])

/** The show, when it exists and has not started: the seat searches find nothing otherwise. */
const showIsOpen = (showId: string) =>
  eb.exists(eb.selectFrom('shows').select('shows.id').where('shows.id', '=', showId).where('shows.start_time', '>', statementTime))

/** The seat may be held now: it has no holder, or its holder's hold has ended. */
const seatIsFree = (eb: ExpressionBuilder<DB, 'seats'>) =>
  eb.or([eb('seats.booking_id', 'is', null), eb('seats.hold_expires_at', '<=', statementTime)])

/**
 * A seat count for LIMIT as a subquery, not a parameter: with a parameter in its LIMIT the
 * planner costs a generic plan above a custom one and plans the statement anew on every run;
 * behind a subquery both look alike, and the statement is planned once per connection.
 */
const seatCount = (count: number) => sql<number>`(SELECT ${count}::int)`

/**
 * How the seat search treats seats that other transactions have locked: passes them over, waits
 * for them, or takes no locks at all (a count of the seats free as last committed).
 */
export type LockWait = 'skip-locked' | 'wait' | 'no locks'

/**
 * Finds and locks up to `count` of the lowest free seats and up to `count` lapsed ones (held by a
 * hold that has ended, not swept yet); the caller picks the lowest `count` of them. Free seats
 * come from seats_free_idx in seat order and lapsed ones from seats_held_idx, so neither search
 * walks held seats.
 *
 * With 'skip-locked', seats that other in-flight holds have locked are passed over: concurrent
 * holds spread over different seats instead of queueing. The lapsed seats are then the `count`
 * that lapsed first, found in that order, so the cost is that of the holds asked for however many
 * seats have lapsed; each is re-checked by the whole key under its lock, so one taken, released or
 * confirmed since (its hold's end changed) is passed over.
 *
 * With 'wait', each locked seat is waited for and re-checked, and the lock is applied below LIMIT,
 * so seats that turn out taken do not count and the next ones are tried: a shortfall is then real.
 * It sorts every lapsed seat of the show, and runs only when a skip-locked search came up short
 * and a search with 'no locks' found enough seats free.
 */
export function pickSeats (db: Database, showId: string, count: number, lockWait: LockWait) {
  const skipLocked = lockWait === 'skip-locked'
  const wait = lockWait === 'wait'
  return db
    .with('free', (qb) => qb.selectFrom('seats')
      .select((eb) => ['seats.seat_no', 'seats.label', eb.lit(false).$castTo<boolean>().as('lapsed'), statementTime.as('searched_at')])
      .where('seats.show_id', '=', showId)
      .where('seats.booking_id', 'is', null)
      .where(showIsOpen(showId))
      // seat_no + 0 is the order of seats_free_idx, and one the primary key does not offer.
      .orderBy((eb) => eb('seats.seat_no', '+', eb.lit(0)))
      .limit(seatCount(count))
      .$if(lockWait !== 'no locks', (qb) => qb.forUpdate())
      .$if(skipLocked, (qb) => qb.skipLocked()))
    .with('lapsed', (qb) => !wait
      ? qb.selectFrom((sub) => sub.selectFrom('seats')
        .select(['seats.hold_expires_at', 'seats.seat_no'])
        .where('seats.show_id', '=', showId)
        .where((eb) => eb('seats.hold_expires_at', '<=', statementTime))
        .where(showIsOpen(showId))
        .orderBy('seats.hold_expires_at')
        .orderBy('seats.seat_no')
        .limit(seatCount(count))
        .as('oldest'))
        .innerJoin('seats as s', (join) => join
          .on('s.show_id', '=', showId)
          .onRef('s.hold_expires_at', '=', 'oldest.hold_expires_at')
          .onRef('s.seat_no', '=', 'oldest.seat_no'))
        .select((eb) => ['s.seat_no', 's.label', eb.lit(true).$castTo<boolean>().as('lapsed'), statementTime.as('searched_at')])
        .orderBy('s.seat_no')
        .$if(skipLocked, (qb) => qb.forUpdate('s').skipLocked())
      : qb.selectFrom('seats as s')
        .select((eb) => ['s.seat_no', 's.label', eb.lit(true).$castTo<boolean>().as('lapsed'), statementTime.as('searched_at')])
        .where('s.show_id', '=', showId)
        .where((eb) => eb('s.hold_expires_at', '<=', statementTime))
        .where(showIsOpen(showId))
        // Not the primary key's order, which would walk the show seat by seat.
        .orderBy((eb) => eb('s.seat_no', '+', eb.lit(0)))
        .limit(seatCount(count))
        .forUpdate())
    .selectFrom('free').selectAll()
    .unionAll((qb) => qb.selectFrom('lapsed').selectAll())
}

/**
 * Finds and locks the seats labelled `labels`, in seat order, each with whether it may be held
 * now: by the primary key, at the seat numbers the show's layout gives the labels.
 */
export function pickLabelledSeats (db: Database, showId: string, labels: string[]) {
  return db.selectFrom('seats')
    .select((eb) => [
      'seats.seat_no', 'seats.label',
      seatIsFree(eb).$castTo<boolean>().as('free'),
      statementTime.as('searched_at')
    ])
    .where('seats.show_id', '=', showId)
    .where('seats.seat_no', 'in', seatNumbersOf(showId, labels))
    .where('seats.label', '=', (eb) => eb.fn.any(eb.val(labels)))
    .where(showIsOpen(showId))
    .orderBy('seats.seat_no')
    .forUpdate()
}

/** What holds of seats together need to know of the show: its rows and its focal point. */
export function showLayout (db: Database, showId: string) {
  return db.selectFrom('shows')
    .select(['shows.total_seats', 'shows.row_labels', 'shows.row_seats', 'shows.focal_row', 'shows.focal_seat'])
    .where('shows.id', '=', showId)
}

/**
 * The show's free seats (never held, released, or of a lapsed hold) as runs of consecutive
 * seat_nos, while it is open; no locks, so seats that other transactions have locked count as
 * free, as last committed. Free seats come from seats_free_idx and lapsed ones from
 * seats_held_idx, so the read costs the seats that are free, not the show's size. A run's
 * seat_nos less their rank in seat order are all the same.
 */
export function findFreeRuns (db: Database, showId: string) {
  return db
    .selectFrom((qb) => qb
      .selectFrom((seats) => seats.selectFrom('seats').select('seats.seat_no')
        .where('seats.show_id', '=', showId)
        .where('seats.booking_id', 'is', null)
        .where(showIsOpen(showId))
        .unionAll((lapsed) => lapsed.selectFrom('seats').select('seats.seat_no')
          .where('seats.show_id', '=', showId)
          .where('seats.hold_expires_at', '<=', statementTime)
          .where(showIsOpen(showId)))
        .as('f'))
      .select((eb) => ['f.seat_no', eb('f.seat_no', '-', eb.fn.agg<number>('row_number').over((ob) => ob.orderBy('f.seat_no'))).as('run')])
      .as('free'))
    .select((eb) => [eb.fn.min('free.seat_no').as('first'), eb.fn.max('free.seat_no').as('last')])
    .groupBy('free.run')
}

/**
 * Locks the seats `seatNos` in seat order, waiting for those that other transactions have locked,
 * and answers those that are free once locked (each re-checked under its lock).
 */
export function lockFreeSeats (db: Database, showId: string, seatNos: number[]) {
  return db.selectFrom('seats')
    .select(['seats.seat_no', 'seats.label', statementTime.as('searched_at')])
    .where('seats.show_id', '=', showId)
    .where('seats.seat_no', '=', (eb) => eb.fn.any(eb.val(seatNos)))
    .where(seatIsFree)
    .where(showIsOpen(showId))
    .orderBy('seats.seat_no')
    .forUpdate('seats')
}

/**
 * New bookings, one a hold, made at `searchedAt` (the clock of the search that found their seats)
 * and held for `holdSeconds` from then; answers them as written, in no set order. The time comes
 * from the search, which a database distributed by show runs on the show's node, so that a hold's
 * end is set by the clock that later decides it has ended (Citus would read an INSERT's own clock
 * on the coordinator). The show id comes from the show's row, not a parameter: an INSERT ... SELECT
 * that reads its distributed table by the show's id is one that a database distributed by show
 * runs on that show's node alone (one from a function alone is pulled through the coordinator).
 */
export function insertBookings (db: Database, showId: string, holds: Array<{ id: string, quantity: number }>, searchedAt: Date, holdSeconds: number) {
  return insertIntoAliased(db, 'bookings', 'b')
    .columns(['id', 'show_id', 'quantity', 'created_at', 'hold_expires_at'])
    .expression((eb) => eb.selectFrom(['shows', jsonRows(holds.map(({ id, quantity }) => ({ id, quantity })), { id: 'uuid', quantity: 'int' })])
      .where('shows.id', '=', showId)
      .select([
        'h.id',
        'shows.id as show_id',
        'h.quantity',
        eb.cast<Date>(eb.val(searchedAt), 'timestamptz').as('created_at'),
        // Interval arithmetic has no form in the builder.
        sql<Date>`${searchedAt}::timestamptz + make_interval(secs => ${holdSeconds})`.as('hold_expires_at')
      ]))
    .returningAll()
}

/** The seats of each new booking, in the list that outlives the hold (the seat rows forget it when it ends). */
export function listBookingSeats (db: Database, showId: string, seats: Array<{ booking_id: string, seat_no: number }>) {
  return db.insertInto('booking_seats')
    .columns(['booking_id', 'show_id', 'seat_no'])
    .expression((eb) => eb.selectFrom(['shows', jsonRows(seats, { booking_id: 'uuid', seat_no: 'int' })])
      .where('shows.id', '=', showId)
      .select(['h.booking_id', 'shows.id as show_id', 'h.seat_no']))
}

/**
 * Gives each seat its holder: a new booking, held until that booking's end (read from the booking,
 * so seat and booking end at the same instant), or none, for a released lapsed seat.
 */
export function markSeats (db: Database, showId: string, seats: Array<{ seat_no: number, booking_id: string | null }>) {
  return db.updateTable('seats')
    .from(jsonRows(seats, { seat_no: 'int', booking_id: 'uuid' }))
    .set((eb) => ({
      booking_id: eb.ref('h.booking_id'),
      // An alias Citus keeps when it writes the statement for the show's shard.
      hold_expires_at: eb.selectFrom('bookings as holder').select('holder.hold_expires_at')
        .where('holder.show_id', '=', showId)
        .whereRef('holder.id', '=', 'h.booking_id')
    }))
    .where('seats.show_id', '=', showId)
    .where('seats.seat_no', '=', (eb) => eb.fn.any(jsonArray(seats.map((seat) => seat.seat_no), 'int')))
    .whereRef('seats.seat_no', '=', 'h.seat_no')
}

/** The show's start and whether it is still ahead, to tell why a show took no holds. */
export function showStart (db: Database, showId: string) {
  return db.selectFrom('shows')
    .select((eb) => ['shows.start_time', eb('shows.start_time', '>', statementTime).as('open')])
    .where('shows.id', '=', showId)
}
