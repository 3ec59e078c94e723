import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely'
import type { Booking, BookingStatus } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import { jsonArray } from '../db/json-rows.ts'
import type { DB } from '../db/types.ts'
import { createBatchQueue, type BatchQueue } from './batch-queue.ts'
import { showOfBooking } from './booking-shows.ts'
import { decodeCursor, defaultPageSize, toPage } from './cursor.ts'
import { retryOnDeadlock } from './deadlocks.ts'
import { EngineError } from './errors.ts'
import { readTime } from './read-time.ts'
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

/**
 * Labels of a booking's seats in seat order; `b` is the booking, of show `showId` (named, so that
 * on a database distributed by show the subquery is known to be on the show's node).
 */
const seatLabels = (showId: string) => sql<string[]>`
  (SELECT coalesce(array_agg(s.label ORDER BY s.seat_no), '{}')
   FROM booking_seats bs JOIN seats s ON s.show_id = bs.show_id AND s.seat_no = bs.seat_no
   WHERE bs.booking_id = b.id AND bs.show_id = ${showId} AND s.show_id = ${showId})`

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

/** The bookings of show `showId`, as readers see them. */
function selectBookings (db: Database, showId: string) {
  return db.selectFrom('bookings as b').select([
    'b.id', 'b.show_id', effectiveStatus.as('status'), 'b.quantity', seatLabels(showId).as('seats'),
    'b.hold_expires_at', 'b.created_at', 'b.confirmed_at', 'b.cancelled_at'
  ]).where('b.show_id', '=', showId)
}

export function bookingNotFound (id: string): EngineError {
  return new EngineError('booking_not_found', `No booking with id ${id}`)
}

export async function getBooking (db: Database, id: string): Promise<Booking> {
  const showId = await showOfBooking(db, id)
  const row = showId === undefined ? undefined : await selectBookings(db, showId).where('b.id', '=', id).executeTakeFirst()
  if (row === undefined) throw bookingNotFound(id)
  return toBooking(row)
}

/** A booking as read, and when it was read (see readTime). */
export interface BookingRead {
  booking: Booking
  readAt: string
}

/**
 * The bookings of show `showId` among `ids` (well-formed: ids read before, or one showOfBooking has
 * found) that exist, as readers see them, with the time of the read.
 */
export async function readBookings (db: Database, showId: string, ids: string[]): Promise<BookingRead[]> {
  if (ids.length === 0) return []
  const rows = await selectBookings(db, showId).select(readTime.as('read_at'))
    .where('b.id', '=', (eb) => eb.fn.any(jsonArray(ids, 'uuid')))
    .execute()
  return rows.map((row) => ({ booking: toBooking(row), readAt: row.read_at }))
}

/** Booking `id` as readers see it, with the time of the read; undefined when there is no such booking. */
export async function readBooking (db: Database, id: string): Promise<BookingRead | undefined> {
  const showId = await showOfBooking(db, id)
  if (showId === undefined) return undefined
  const [read] = await readBookings(db, showId, [id])
  return read
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
  let query = selectBookings(db, show.id)
  if (options.status !== undefined) {
    const status = options.status
    query = query.where((eb) => statusFilter(eb, status))
  }
  if (after !== undefined) query = query.where((eb) => eb(eb.refTuple('b.created_at', 'b.id'), '>', eb.tuple(new Date(after[0]), after[1])))
  const rows = await query.orderBy('b.created_at').orderBy('b.id').limit((options.limit ?? defaultPageSize) + 1).execute()
  return toPage(rows, options.limit ?? defaultPageSize, (row) => [row.created_at.toISOString(), row.id], toBooking)
}

type LiveStatus = 'PENDING' | 'CONFIRMED'

/**
 * The first steps of confirm and cancel: the bookings' rows locked in id order, then the seats
 * they still hold (when their status is one of `statuses`) locked in seat order, as every writer
 * locks seats, then the clock read. `decided.at` comes after every lock is held, so a hold whose
 * end passed while the statement waited for a lock counts as ended, whatever the statement's or
 * transaction's start.
 */
function lockBookings (db: Database, showId: string, ids: string[], statuses: LiveStatus[]) {
  return db
    .with('target', (qb) => qb.selectFrom('bookings').selectAll()
      .where('show_id', '=', showId)
      .where('id', '=', (eb) => eb.fn.any(jsonArray(ids, 'uuid')))
      .orderBy('id')
      .forUpdate())
    .with('held', (qb) => qb.selectFrom('target')
      .innerJoin('booking_seats as bs', (join) => join.onRef('bs.booking_id', '=', 'target.id').onRef('bs.show_id', '=', 'target.show_id'))
      .innerJoin('seats', (join) => join.onRef('seats.show_id', '=', 'bs.show_id').onRef('seats.seat_no', '=', 'bs.seat_no'))
      .select(['seats.show_id', 'seats.seat_no', 'seats.booking_id'])
      .where('seats.show_id', '=', showId)
      .whereRef('seats.booking_id', '=', 'target.id')
      .where('target.status', 'in', statuses)
      .orderBy('seats.show_id')
      .orderBy('seats.seat_no')
      .forUpdate('seats'))
    // An aggregate over every locked seat: its clock is read once they are all locked.
    .with('decided', (qb) => qb.selectFrom('held').select((eb) => [sql<Date>`clock_timestamp()`.as('at'), eb.fn.countAll<number>().as('seats_locked')]))
    .with('seats_held', (qb) => qb.selectFrom('held').select((eb) => ['held.booking_id', eb.fn.countAll<number>().as('count')]).groupBy('held.booking_id'))
}

/** The status at the decision's time: a PENDING hold whose end has passed is EXPIRED. */
const statusAtDecision = sql<BookingStatus>`
  CASE WHEN b.status = 'PENDING' AND b.hold_expires_at <= decided.at THEN 'EXPIRED' ELSE b.status END`

/** An extension's bounds: the new end is `holdSeconds` after the decision, never past `maxHoldSeconds` after the hold began. */
export interface ExtensionLimits {
  holdSeconds: number
  maxHoldSeconds: number
}

type Decision = { kind: 'confirm' } | { kind: 'cancel' } | ({ kind: 'extend' } & ExtensionLimits)

/**
 * Confirms, cancels or extends bookings in one statement: the bookings and their seats locked (see
 * lockBookings), then, with the clock read under those locks, each written only when it may still
 * take the change: a confirm when the hold has not ended and still has all its seats, an extension
 * likewise and when its end is not yet at its limit, a cancel when the booking is confirmed or its
 * hold has not ended. Confirm, cancel, extension and expiry all need the booking's row lock and
 * read the clock under it, so no two of them both win. Answers each booking as the statement left
 * it, with its status at the decision's time, and whether the statement changed it.
 */
function decisionStatement (db: Database, showId: string, ids: string[], decision: Decision) {
  const { kind } = decision
  // An extension's new end: the decision's time plus the window, capped, and never earlier than
  // the present end. Computed for every decision so that the statement has one shape.
  const holdSeconds = kind === 'extend' ? decision.holdSeconds : 0
  const maxHoldSeconds = kind === 'extend' ? decision.maxHoldSeconds : 0
  const cap = sql<Date>`target.created_at + make_interval(secs => ${maxHoldSeconds})`
  return lockBookings(db, showId, ids, kind === 'cancel' ? ['PENDING', 'CONFIRMED'] : ['PENDING'])
    .with('decidable', (qb) => qb.selectFrom('target')
      .innerJoin('decided', (join) => join.onTrue())
      .leftJoin('seats_held', 'seats_held.booking_id', 'target.id')
      .select((eb) => ['target.id', eb.fn<Date>('greatest', [
        'target.hold_expires_at',
        eb.fn<Date>('least', [sql<Date>`decided.at + make_interval(secs => ${holdSeconds})`, cap])
      ]).as('hold_until')])
      .where((eb) => {
        const live = eb.and([eb('target.status', '=', 'PENDING'), eb('target.hold_expires_at', '>', eb.ref('decided.at'))])
        const whole = eb('target.quantity', '=', eb.ref('seats_held.count'))
        switch (kind) {
          case 'confirm': return eb.and([live, whole])
          case 'extend': return eb.and([live, whole, eb('target.hold_expires_at', '<', cap)])
          case 'cancel': return eb.or([live, eb('target.status', '=', 'CONFIRMED')])
        }
      }))
    // A confirmed seat has no hold end; a cancelled one has no holder either; an extended one
    // keeps its copy of the booking's end.
    .with('seated', (qb) => qb.updateTable('seats').from(['held', 'decidable'])
      .set((eb) => {
        switch (kind) {
          case 'confirm': return { hold_expires_at: null }
          case 'extend': return { hold_expires_at: eb.ref('decidable.hold_until') }
          case 'cancel': return { booking_id: null, hold_expires_at: null }
        }
      })
      .where('seats.show_id', '=', showId)
      .whereRef('seats.show_id', '=', 'held.show_id')
      .whereRef('seats.seat_no', '=', 'held.seat_no')
      .whereRef('held.booking_id', '=', 'decidable.id'))
    .with('changed', (qb) => qb.updateTable('bookings').from(['decidable', 'decided'])
      .set((eb) => {
        switch (kind) {
          case 'confirm': return { status: 'CONFIRMED', confirmed_at: eb.ref('decided.at') }
          case 'extend': return { hold_expires_at: eb.ref('decidable.hold_until') }
          case 'cancel': return { status: 'CANCELLED', cancelled_at: eb.ref('decided.at') }
        }
      })
      .where('bookings.show_id', '=', showId)
      .whereRef('bookings.id', '=', 'decidable.id')
      .returning(['bookings.id', 'bookings.status', 'bookings.hold_expires_at', 'bookings.confirmed_at', 'bookings.cancelled_at']))
    // Each booking's seat labels as a join, not seatLabels' correlated subquery, which Citus does
    // not run on one node over a CTE.
    .with('labelled', (qb) => qb.selectFrom('target')
      .innerJoin('booking_seats as bs', (join) => join.onRef('bs.booking_id', '=', 'target.id').onRef('bs.show_id', '=', 'target.show_id'))
      .innerJoin('seats as s', (join) => join.onRef('s.show_id', '=', 'bs.show_id').onRef('s.seat_no', '=', 'bs.seat_no'))
      .where('s.show_id', '=', showId)
      .select(['target.id', sql<string[]>`array_agg(s.label ORDER BY s.seat_no)`.as('labels')])
      .groupBy('target.id'))
    .selectFrom('target as b')
    .innerJoin('decided', (join) => join.onTrue())
    .leftJoin('changed', 'changed.id', 'b.id')
    .leftJoin('labelled', 'labelled.id', 'b.id')
    .select((eb) => [
      'b.id', 'b.show_id', eb.fn.coalesce('changed.status', statusAtDecision).as('status'), 'b.quantity',
      eb.fn.coalesce('labelled.labels', sql<string[]>`'{}'`).as('seats'),
      eb.fn.coalesce('changed.hold_expires_at', 'b.hold_expires_at').as('hold_expires_at'), 'b.created_at',
      eb.fn.coalesce('changed.confirmed_at', 'b.confirmed_at').as('confirmed_at'),
      eb.fn.coalesce('changed.cancelled_at', 'b.cancelled_at').as('cancelled_at'),
      eb('changed.id', 'is not', null).$castTo<boolean>().as('changed')
    ])
}

/** A booking after a decision, and whether the decision changed it. */
interface Decided {
  booking: Booking
  changed: boolean
}

/** Each booking of show `showId` after `decision`, in the order of `ids`: undefined where the show has no such booking. */
async function decideBookings (db: Database, showId: string, ids: string[], decision: Decision): Promise<Array<Decided | undefined>> {
  const rows = await retryOnDeadlock(async () => await decisionStatement(db, showId, ids, decision).execute())
  const byId = new Map(rows.map((row) => [row.id, { booking: toBooking(row), changed: row.changed }]))
  // PostgreSQL writes a uuid in lower case; a client may send it in upper case.
  return ids.map((id) => byId.get(id.toLowerCase()))
}

/** Confirms go in batches by show: each batch is one statement on its show's bookings and seats. */
export type ConfirmBatches = BatchQueue<string, Booking | undefined>

export const createConfirmBatches = (db: Database): ConfirmBatches =>
  createBatchQueue(async (showId, ids: string[]) => (await decideBookings(db, showId, ids, { kind: 'confirm' })).map((decided) => decided?.booking))

/** Confirms a PENDING booking whose hold has not ended, in the next batch of confirms of its show. */
export async function confirmBooking (db: Database, confirms: ConfirmBatches, id: string): Promise<Booking> {
  const showId = await showOfBooking(db, id)
  if (showId === undefined) throw bookingNotFound(id)
  const booking = await confirms.submit(showId, id)
  if (booking === undefined) throw bookingNotFound(id)
  switch (booking.status) {
    case 'CONFIRMED': return booking
    case 'CANCELLED': throw new EngineError('booking_cancelled', `Booking ${id} was cancelled`)
    case 'EXPIRED': throw holdExpired(booking)
    case 'PENDING': throw new Error(`booking ${id} is live but does not hold all its seats`)
  }
}

export async function cancelBooking (db: Database, id: string): Promise<Booking> {
  const showId = await showOfBooking(db, id)
  if (showId === undefined) throw bookingNotFound(id)
  const [decided] = await decideBookings(db, showId, [id], { kind: 'cancel' })
  if (decided === undefined) throw bookingNotFound(id)
  const { booking } = decided
  switch (booking.status) {
    case 'CANCELLED': return booking
    case 'EXPIRED': throw holdExpired(booking)
    default: throw new Error(`booking ${id} is ${booking.status} after it was cancelled`)
  }
}

/**
 * Moves the end of a live hold to `holdSeconds` from now, but never past `maxHoldSeconds` after
 * the hold was placed; its seats' ends move with it.
 */
export async function extendBooking (db: Database, id: string, limits: ExtensionLimits): Promise<Booking> {
  const showId = await showOfBooking(db, id)
  if (showId === undefined) throw bookingNotFound(id)
  const [decided] = await decideBookings(db, showId, [id], { kind: 'extend', ...limits })
  if (decided === undefined) throw bookingNotFound(id)
  const { booking, changed } = decided
  switch (booking.status) {
    case 'CONFIRMED': throw new EngineError('booking_confirmed', `Booking ${id} is confirmed; its seats are booked`)
    case 'CANCELLED': throw new EngineError('booking_cancelled', `Booking ${id} was cancelled`)
    case 'EXPIRED': throw holdExpired(booking)
    case 'PENDING': {
      if (changed) return booking
      const limit = new Date(Date.parse(booking.created_at) + limits.maxHoldSeconds * 1000).toISOString()
      if (booking.hold_expires_at < limit) throw new Error(`booking ${id} is live but does not hold all its seats`)
      throw new EngineError('extension_limit', `The hold of booking ${id} already lasts as long as a hold may: until ${limit}`, { max_hold_expires_at: limit })
    }
  }
}

function holdExpired (booking: Booking): EngineError {
  return new EngineError('hold_expired', `The hold of booking ${booking.id} ended at ${booking.hold_expires_at}`)
}
