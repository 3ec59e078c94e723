import { sql, type ExpressionBuilder } from 'kysely'
import type { Database } from '../db/database.ts'
import type { DB } from '../db/types.ts'
import { retryOnDeadlock } from './deadlocks.ts'

const count = sql<number>`count(*)::int`
const statementTime = sql<Date>`statement_timestamp()`

/** A booking still PENDING whose hold has ended by the statement's clock: what the sweep expires. */
const lapsedHold = (eb: ExpressionBuilder<DB, 'bookings'>) =>
  eb.and([eb('bookings.status', '=', 'PENDING'), eb('bookings.hold_expires_at', '<=', statementTime)])

/**
 * Writes EXPIRED on one batch of lapsed holds and lets go of the seats they still hold. Readers
 * already treat these holds as expired; this is housekeeping that keeps indexes and counts small.
 * SKIP LOCKED lets any number of processes sweep at once without touching the same booking, and
 * a booking being confirmed or cancelled (row locked) is left for the next sweep, which
 * will see its outcome. The seats are locked in seat order, as every writer locks them.
 */
const sweepBatch = (db: Database, showId: string, batchSize: number) => db
  .with('lapsed', (qb) => qb.selectFrom('bookings').select(['id', 'show_id'])
    .where('show_id', '=', showId)
    .where(lapsedHold)
    .orderBy('hold_expires_at')
    .limit(batchSize)
    .forUpdate()
    .skipLocked())
  .with('held', (qb) => qb.selectFrom('lapsed')
    .innerJoin('booking_seats as bs', (join) => join.onRef('bs.booking_id', '=', 'lapsed.id').onRef('bs.show_id', '=', 'lapsed.show_id'))
    .innerJoin('seats', (join) => join.onRef('seats.show_id', '=', 'bs.show_id').onRef('seats.seat_no', '=', 'bs.seat_no'))
    .select(['seats.show_id', 'seats.seat_no'])
    .where('seats.show_id', '=', showId)
    .whereRef('seats.booking_id', '=', 'lapsed.id')
    .orderBy('seats.show_id')
    .orderBy('seats.seat_no')
    .forUpdate('seats'))
  // Each update says again that its row has lapsed, which PostgreSQL checks on the row's latest
  // version: a hold extended and committed after this statement's snapshot is left alone even if a
  // lock above was taken on its earlier version.
  .with('expired', (qb) => qb.updateTable('bookings').from('lapsed')
    .set((eb) => ({ status: 'EXPIRED', expired_at: eb.ref('bookings.hold_expires_at') }))
    .where('bookings.show_id', '=', showId)
    .whereRef('bookings.id', '=', 'lapsed.id')
    .where(lapsedHold)
    .returning(['bookings.id', 'bookings.show_id']))
  .with('released', (qb) => qb.updateTable('seats').from('held')
    .set({ booking_id: null, hold_expires_at: null })
    .where('seats.show_id', '=', showId)
    .whereRef('seats.show_id', '=', 'held.show_id')
    .whereRef('seats.seat_no', '=', 'held.seat_no')
    .where('seats.hold_expires_at', '<=', statementTime)
    .returning('seats.seat_no'))
  .selectNoFrom((eb) => [
    eb.selectFrom('expired').select(count.as('n')).as('expired'),
    eb.selectFrom('released').select(count.as('n')).as('released')
  ])

/**
 * The shows that have lapsed holds still stored as PENDING: one read over every show (on Citus,
 * every shard, without locks), so that each show is then swept by statements about it alone.
 */
const showsWithLapsedHolds = async (db: Database): Promise<string[]> => (await db.selectFrom('bookings')
  .select('show_id').distinct()
  .where(lapsedHold)
  .execute()).map((row) => row.show_id)

export interface SweepResult {
  expired: number
  released: number
  batches: number
  /** The shows whose holds it expired. */
  showIds: string[]
}

/** Sweeps each show with lapsed holds, batch after batch until one comes back short. */
export async function sweepExpiredHolds (db: Database, batchSize = 500): Promise<SweepResult> {
  const total = { expired: 0, released: 0, batches: 0 }
  const shows: string[] = []
  for (const showId of await showsWithLapsedHolds(db)) {
    for (;;) {
      const batch = await retryOnDeadlock(async () => await sweepBatch(db, showId, batchSize).executeTakeFirstOrThrow())
      const expired = batch.expired ?? 0
      total.expired += expired
      total.released += batch.released ?? 0
      total.batches++
      if (expired > 0 && shows.at(-1) !== showId) shows.push(showId)
      if (expired < batchSize) break
    }
  }
  return { ...total, showIds: shows }
}

/**
 * Forgets Idempotency-Key records once their 24 hours are over: settled ones, and those whose
 * request died before it settled (its lease has run out, so no request is running on the key).
 */
export async function forgetOldIdempotencyKeys (db: Database): Promise<number> {
  const result = await db.deleteFrom('idempotency_keys')
    .where('created_at', '<', sql<Date>`now() - interval '24 hours'`)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`now()`)]))
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
