import type { Database } from '../db/database.ts'
import { jsonRows } from '../db/json-rows.ts'
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

/**
 * Records the show of new bookings, once their hold has committed and before anyone is told their
 * ids: the route table is distributed by booking id, so a write to it inside the hold's
 * transaction would make that transaction span two nodes. Written again for an Idempotency-Key's
 * replay (nothing changes then), so a booking whose route was lost with its process is reachable
 * once its key is retried.
 */
export async function recordBookingShows (db: Database, bookings: Array<{ id: string, show_id: string }>): Promise<void> {
  if (bookings.length === 0) return
  await db.insertInto('booking_shows')
    .columns(['booking_id', 'show_id'])
    .expression((eb) => eb.selectFrom(jsonRows(bookings, { id: 'uuid', show_id: 'uuid' })).select(['h.id', 'h.show_id']))
    .onConflict((oc) => oc.column('booking_id').doNothing())
    .execute()
}
