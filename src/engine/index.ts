import type { BookingStatus, CreateShowRequest } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import { cancelBooking, confirmBooking, getBooking, listShowBookings } from './bookings.ts'
import { invalidInput } from './errors.ts'
import { forgetOldIdempotencyKeys, sweepExpiredHolds } from './expiry.ts'
import { placeHold, type HoldRequest } from './holds.ts'
import { requestHash, runOnce } from './idempotency.ts'
import { createShow, getAvailability, getSeatMap, getShow, listAllShows, listUpcomingShows } from './shows.ts'

export { EngineError, type EngineErrorCode } from './errors.ts'
export type { HoldRequest } from './holds.ts'

export interface EngineSettings {
  holdSeconds: number
  maxSeatsPerShow: number
  maxSeatsPerBooking: number
}

/**
 * The booking engine: shows, holds, confirm, cancel and expiry over one database. It knows
 * nothing of HTTP; every method either returns its result or throws an EngineError.
 */
export function createBookingEngine (db: Database, settings: EngineSettings) {
  return {
    createShow: async (input: CreateShowRequest) => await createShow(db, input, settings.maxSeatsPerShow),
    getShow: async (id: string) => await getShow(db, id),
    listUpcomingShows: async (limit?: number, cursor?: string) => await listUpcomingShows(db, limit, cursor),
    listAllShows: async (limit?: number, cursor?: string) => await listAllShows(db, limit, cursor),
    getAvailability: async (id: string) => await getAvailability(db, id),
    getSeatMap: async (id: string) => await getSeatMap(db, id),
    listShowBookings: async (showId: string, options: { status?: BookingStatus, limit?: number, cursor?: string }) =>
      await listShowBookings(db, showId, options),

    /** Places a hold; with an idempotency key, at most once per key and body. */
    hold: async (request: HoldRequest, idempotencyKey?: string) => {
      const [field, count] = 'labels' in request ? ['seats', request.labels.length] : ['quantity', request.quantity]
      if (count > settings.maxSeatsPerBooking) throw invalidInput(field, `must ask for at most ${settings.maxSeatsPerBooking} seats`)
      if (idempotencyKey === undefined) return await placeHold(db, request, settings.holdSeconds)
      const hash = requestHash(request)
      return await runOnce(db, idempotencyKey, hash, async (trx) => await placeHold(trx, request, settings.holdSeconds, true))
    },
    getBooking: async (id: string) => await getBooking(db, id),
    confirm: async (id: string) => await confirmBooking(db, id),
    cancel: async (id: string) => await cancelBooking(db, id),

    sweepExpiredHolds: async (batchSize?: number) => await sweepExpiredHolds(db, batchSize),
    forgetOldIdempotencyKeys: async () => await forgetOldIdempotencyKeys(db)
  }
}

export type BookingEngine = ReturnType<typeof createBookingEngine>
