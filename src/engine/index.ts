import type { Booking, BookingStatus, CreateShowRequest } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import { cancelBooking, confirmBooking, getBooking, listShowBookings } from './bookings.ts'
import { isUuid } from './uuid.ts'
import { EngineError, invalidInput } from './errors.ts'
import { forgetOldIdempotencyKeys, sweepExpiredHolds, type SweepResult } from './expiry.ts'
import { createHoldBatcher } from './hold-batches.ts'
import { grantedBooking, placeHold, type FastPass, type HoldRequest } from './holds.ts'
import { decideOnce, requestHash, runOnce } from './idempotency.ts'
import { createShow, getAvailability, getSeatMap, getShow, listAllShows, listUpcomingShows } from './shows.ts'

export { EngineError, type EngineErrorCode } from './errors.ts'
export type { HoldRequest } from './holds.ts'

export interface EngineSettings {
  holdSeconds: number
  maxSeatsPerShow: number
  maxSeatsPerBooking: number
}

export type Operation = 'hold' | 'confirm' | 'cancel'

/**
 * What the engine tells the rest of the process about its work: live availability listens for
 * changed shows, metrics count outcomes. Observers must not throw; they run after the write.
 */
export interface EngineObserver {
  /** A write of this process changed the seats of `showId` (a hold, confirm, cancel or sweep). */
  showChanged?: (showId: string) => void
  /** An operation ended: `outcome` is 'ok', or the EngineError code, or 'error' for anything else. */
  operationEnded?: (operation: Operation, outcome: string) => void
  sweepEnded?: (result: SweepResult, seconds: number) => void
  /** A statement placing `holds` quantity holds of one show together is starting. */
  holdStatementStarted?: (holds: number) => void
}

/**
 * The booking engine: shows, holds, confirm, cancel and expiry over one database. It knows
 * nothing of HTTP; every method either returns its result or throws an EngineError.
 */
export function createBookingEngine (db: Database, settings: EngineSettings, observer: EngineObserver = {}) {
  const batcher = createHoldBatcher(db, settings.holdSeconds, { statementStarted: observer.holdStatementStarted })

  /** Runs one write, then tells the observer its outcome and, when it changed seats, its show. */
  async function observed (operation: Operation, run: () => Promise<Booking>): Promise<Booking> {
    let booking: Booking
    try {
      booking = await run()
    } catch (error) {
      observer.operationEnded?.(operation, error instanceof EngineError ? error.code : 'error')
      throw error
    }
    observer.operationEnded?.(operation, 'ok')
    observer.showChanged?.(booking.show_id)
    return booking
  }

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
    hold: async (request: HoldRequest, idempotencyKey?: string) => await observed('hold', async () => {
      const [field, count] = 'labels' in request ? ['seats', request.labels.length] : ['quantity', request.quantity]
      if (count > settings.maxSeatsPerBooking) throw invalidInput(field, `must ask for at most ${settings.maxSeatsPerBooking} seats`)
      if (idempotencyKey === undefined) return await placeHold(db, request, settings.holdSeconds, { fastPass: batcher.hold })
      const keyed = { key: idempotencyKey, hash: requestHash(request) }
      const decide = (fastPass?: FastPass) => async (trx: Database) =>
        await placeHold(trx, request, settings.holdSeconds, { inTransaction: true, fastPass })
      if ('quantity' in request && isUuid(request.showId)) {
        // The key is claimed, the hold placed and, when granted, recorded with the show's other
        // holds. One it claimed but could not grant is decided in the key's own transaction, where
        // the batch's row stands for the skip-locked pass it already ran.
        const row = await batcher.holdOnce(request.showId, request.quantity, keyed)
        if (row !== undefined) return grantedBooking(row) ?? await decideOnce(db, keyed.key, decide(async () => row))
      }
      return await runOnce(db, keyed, decide())
    }),
    getBooking: async (id: string) => await getBooking(db, id),
    confirm: async (id: string) => await observed('confirm', async () => await confirmBooking(db, id)),
    cancel: async (id: string) => await observed('cancel', async () => await cancelBooking(db, id)),

    sweepExpiredHolds: async (batchSize?: number) => {
      const started = performance.now()
      const result = await sweepExpiredHolds(db, batchSize)
      observer.sweepEnded?.(result, (performance.now() - started) / 1000)
      for (const showId of result.showIds) observer.showChanged?.(showId)
      return result
    },
    forgetOldIdempotencyKeys: async () => await forgetOldIdempotencyKeys(db),
    /** Holds waiting for their show's next hold statement. */
    holdsWaiting: batcher.waiting,
    /** How long (ms) the hold that has waited longest for its show's next statement has waited. */
    longestHoldWaitMs: batcher.longestWaitMs
  }
}

export type BookingEngine = ReturnType<typeof createBookingEngine>
