import type { Database } from '../db/database.ts'
import { isUuid } from './uuid.ts'

/**
 * Which show each booking is of, by the booking's id (table booking_shows). Every statement about a
 * booking names its show, so that on a database distributed by show it runs on that show's node
 * alone; a request that names a booking by id alone looks its show up here first, one read on the
 * node of the booking's id (its show's node: booking-ids.ts). Every operation on a booking by id
 * goes through showOfBooking.
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

/**
 * Records the show of new bookings, in the transaction that holds them: their ids are drawn in the
 * show's shard range, so on Citus the routes are written on the show's node, in one phase. A VALUES
 * list, not JSON rows: Citus routes it to the shard, where an INSERT ... SELECT from a function goes
 * through intermediate results on the coordinator.
 */
export async function recordBookingShows (trx: Database, showId: string, bookingIds: string[]): Promise<void> {
  await trx.insertInto('booking_shows').values(bookingIds.map((id) => ({ booking_id: id, show_id: showId }))).execute()
}
