import type { Database } from '../db/database.ts'
import { createBatchQueue, type BatchQueue } from './batch-queue.ts'
import { isUuid } from './uuid.ts'

/**
 * Which show each booking is of, by the booking's id (table booking_shows). Every statement about a
 * booking names its show, so that on a database distributed by show it runs on that show's node
 * alone; a request that names a booking by id alone looks its show up here first, one read on the
 * node of the booking's id. Every operation on a booking by id goes through showOfBooking.
 */

/**
 * The show of booking `id`, or undefined when no booking has that id (or it is not a uuid: such an
 * id names no row).
 */
export async function showOfBooking (db: Database, id: string): Promise<string | undefined> {
  if (!isUuid(id)) return undefined
  const row = await db.selectFrom('booking_shows').select('show_id').where('booking_id', '=', id).executeTakeFirst()
  return row?.show_id
}

interface Route { id: string, show_id: string }

/**
 * Records the show of new bookings. A VALUES list, not JSON rows: Citus sends each row straight to
 * its shard, where an INSERT ... SELECT from a function goes through intermediate results on the
 * coordinator (several times slower).
 */
async function recordBookingShows (db: Database, bookings: Route[]): Promise<void> {
  await db.insertInto('booking_shows')
    .values(bookings.map((booking) => ({ booking_id: booking.id, show_id: booking.show_id })))
    .onConflict((oc) => oc.column('booking_id').doNothing())
    .execute()
}

/**
 * Route writes go in batches of their own, across shows: a hold's route is written once its hold
 * has committed and before anyone is told its id (the route table is distributed by booking id, so
 * a write to it inside the hold's transaction would make that transaction span two nodes), and
 * batching them apart keeps them off the show's hold batches, which go on meanwhile. Written again
 * for an Idempotency-Key's replay (nothing changes then), so a booking whose route was lost with
 * its process is reachable once its key is retried.
 */
export const createRouteWrites = (db: Database): BatchQueue<Route, undefined> =>
  createBatchQueue(async (_, bookings: Route[]) => {
    await recordBookingShows(db, bookings)
    return bookings.map(() => undefined)
  })

export type RouteWrites = ReturnType<typeof createRouteWrites>

/** Records a new booking's show, in the next batch of route writes. */
export async function recordBookingShow (routes: RouteWrites, booking: Route): Promise<void> {
  await routes.submit('routes', booking)
}
