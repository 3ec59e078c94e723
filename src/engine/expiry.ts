import { sql } from 'kysely'
import type { Database } from '../db/database.ts'

/**
 * Writes EXPIRED on one batch of lapsed holds and lets go of the seats they still hold. Readers
 * already treat these holds as expired; this is housekeeping that keeps indexes and counts small.
 * SKIP LOCKED lets any number of processes sweep at once without touching the same booking, and
 * a booking being confirmed (row locked) is left for the next sweep, which will see its outcome.
 */
const sweepBatch = (batchSize: number) => sql<{ expired: number, released: number, show_ids: string[] }>`
  WITH lapsed AS (
    SELECT id FROM bookings
    WHERE status = 'PENDING' AND hold_expires_at <= now()
    ORDER BY hold_expires_at
    LIMIT ${batchSize}
    FOR UPDATE SKIP LOCKED
  ), expired AS (
    UPDATE bookings SET status = 'EXPIRED', expired_at = bookings.hold_expires_at
    FROM lapsed
    WHERE bookings.id = lapsed.id
    RETURNING bookings.id, bookings.show_id
  ), released AS (
    UPDATE seats SET booking_id = NULL, hold_expires_at = NULL
    FROM expired, booking_seats bs
    WHERE bs.booking_id = expired.id AND seats.show_id = bs.show_id AND seats.seat_no = bs.seat_no
      AND seats.booking_id = expired.id
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM expired)::int AS expired, (SELECT count(*) FROM released)::int AS released,
         (SELECT coalesce(array_agg(DISTINCT show_id), '{}') FROM expired) AS show_ids`

export interface SweepResult {
  expired: number
  released: number
  batches: number
  /** The shows whose holds it expired. */
  showIds: string[]
}

/** Sweeps batch after batch until a batch comes back short. */
export async function sweepExpiredHolds (db: Database, batchSize = 500): Promise<SweepResult> {
  const total = { expired: 0, released: 0, batches: 0 }
  const shows = new Set<string>()
  for (;;) {
    const { rows: [batch] } = await sweepBatch(batchSize).execute(db)
    if (batch === undefined) throw new Error('sweep statement returned no row')
    total.expired += batch.expired
    total.released += batch.released
    total.batches++
    for (const id of batch.show_ids) shows.add(id)
    if (batch.expired < batchSize) return { ...total, showIds: [...shows] }
  }
}

/** Forgets Idempotency-Key records once their 24 hours are over. */
export async function forgetOldIdempotencyKeys (db: Database): Promise<number> {
  const result = await db.deleteFrom('idempotency_keys')
    .where('created_at', '<', sql<Date>`now() - interval '24 hours'`)
    .where('locked_until', 'is', null)
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
