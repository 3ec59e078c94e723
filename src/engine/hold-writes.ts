import type { Booking } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import { bookingIdIn, type HashRange } from './booking-ids.ts'
import { recordBookingShows } from './booking-shows.ts'
import { toBooking } from './bookings.ts'
import { insertBookings, listBookingSeats, markSeats } from './hold-statements.ts'
import { recordOutcomes, type DecidedKey, type KeyedRequest } from './idempotency.ts'
import type { Seat } from './seat-assignment.ts'
import { recordAdmissions } from './waiting-room/statements.ts'

export interface Grant {
  seats: Seat[]
  keyed?: KeyedRequest
  /** The admission it holds under, claimed earlier in the transaction. */
  admission?: number | undefined
}

/**
 * What a show's new holds are written with: how long they last, and the hash range of the show's
 * shard, which their booking ids are drawn in (booking-ids.ts).
 */
export interface HoldTerms {
  holdSeconds: number
  idRange: HashRange
}

/**
 * Writes the granted holds: their bookings and routes, their seat lists, and the seats' new holders
 * (with the lapsed seats to release), in the order the foreign keys need; records the outcomes of
 * the keyed ones and the holds of the admitted ones in the same transaction. The holds start at
 * `searchedAt`, the clock of the search that found their seats (undefined when it found none, and
 * then there are no grants). Returns the bookings in the grants' order.
 */
export async function writeHolds (trx: Database, showId: string, grants: Grant[], released: number[], searchedAt: Date | undefined, terms: HoldTerms): Promise<Booking[]> {
  const holds = grants.map((grant) => ({ id: bookingIdIn(terms.idRange), quantity: grant.seats.length, seats: grant.seats, keyed: grant.keyed, admission: grant.admission }))
  let bookings: Booking[] = []
  if (holds.length > 0) {
    if (searchedAt === undefined) throw new Error('holds were granted seats that no search found')
    const rows = await insertBookings(trx, showId, holds, searchedAt, terms.holdSeconds).execute()
    await recordBookingShows(trx, showId, holds.map((hold) => hold.id))
    const byId = new Map(rows.map((row) => [row.id, row]))
    bookings = holds.map((hold) => toBooking({ ...byId.get(hold.id)!, seats: hold.seats.map((seat) => seat.label) }))
    await listBookingSeats(trx, showId, holds.flatMap((hold) => hold.seats.map((seat) => ({ booking_id: hold.id, seat_no: seat.seat_no })))).execute()
  }
  const admitted = holds.flatMap((hold, i) => hold.admission === undefined ? [] : [{ seq: hold.admission, booking_id: hold.id, held_until: bookings[i]!.hold_expires_at }])
  if (admitted.length > 0) await recordAdmissions(trx, showId, admitted).execute()
  const decided: DecidedKey[] = holds.flatMap((hold, i) => hold.keyed === undefined ? [] : [{ key: hold.keyed.key, hash: hold.keyed.hash, outcome: { booking: bookings[i]! } }])
  const seats: Array<{ seat_no: number, booking_id: string | null }> = [
    ...holds.flatMap((hold) => hold.seats.map((seat) => ({ seat_no: seat.seat_no, booking_id: hold.id }))),
    ...released.map((seatNo) => ({ seat_no: seatNo, booking_id: null }))
  ]
  if (seats.length > 0) await markSeats(trx, showId, seats).execute()
  if (decided.length > 0) await recordOutcomes(trx, showId, decided).execute()
  return bookings
}
