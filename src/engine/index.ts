import { randomBytes } from 'node:crypto'
import type { Booking, BookingStatus, CreateShowRequest, WaitingRoomUpdate } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import { cancelBooking, confirmBooking, createConfirmBatches, extendBooking, getBooking, listShowBookings } from './bookings.ts'
import { createBatchQueue, defaultBatchLimits } from './batch-queue.ts'
import { createShardRanges } from './booking-ids.ts'
import { EngineError } from './errors.ts'
import { forgetOldIdempotencyKeys, sweepExpiredHolds, type SweepResult } from './expiry.ts'
import { holdBatch, placeHold, type BatchedHold, type BatchedOutcome, type HoldBatches, type HoldRequest } from './holds.ts'
import type { HoldTerms } from './hold-writes.ts'
import { holdTogether, type TogetherOutcome } from './together-holds.ts'
import { createShow, getAvailability, getSeatMap, getShow, listAllShows, listUpcomingShows } from './shows.ts'
import { createWaitingRoom, defaultAdmissionSeconds, type WaitingRoomObserver, type WaitingRoomSettings } from './waiting-room/index.ts'

export { EngineError, type EngineErrorCode } from './errors.ts'
export { bookingNotFound } from './bookings.ts'
export { showNotFound } from './shows.ts'
export type { HoldRequest } from './holds.ts'
export type { WaitingRoomSettings } from './waiting-room/index.ts'

export interface EngineSettings {
  holdSeconds: number
  /** The longest a hold may last, extensions included, from when it was placed. */
  maxHoldSeconds: number
  maxSeatsPerShow: number
  maxSeatsPerBooking: number
  /** Without it, tickets and admission tokens are signed with a secret of this engine alone. */
  waitingRoom?: WaitingRoomSettings
}

export type Operation = 'hold' | 'confirm' | 'cancel' | 'extend'

/**
 * What the engine tells the rest of the process about its work: live availability listens for
 * changed shows, metrics count outcomes. Observers must not throw; they run after the write.
 */
export interface EngineObserver extends WaitingRoomObserver {
  /** A write of this process changed the seats of `showId` (a hold, confirm, cancel, extension or sweep). */
  showChanged?: (showId: string) => void
  /** An operation ended: `outcome` is 'ok', or the EngineError code, or 'error' for anything else. */
  operationEnded?: (operation: Operation, outcome: string) => void
  sweepEnded?: (result: SweepResult, seconds: number) => void
  /** A batch placing `holds` quantity holds of one show together is finding their seats. */
  holdBatchStarted?: (holds: number) => void
}

/**
 * The booking engine: shows, holds, confirm, cancel, extension and expiry over one database. It knows
 * nothing of HTTP; every method either returns its result or throws an EngineError.
 */
export function createBookingEngine (db: Database, settings: EngineSettings, observer: EngineObserver = {}) {
  const shardRanges = createShardRanges(db)
  const termsOf = async (showId: string): Promise<HoldTerms> => ({ holdSeconds: settings.holdSeconds, idRange: await shardRanges.of(showId) })
  const holdBatches: HoldBatches = {
    quantity: createBatchQueue<BatchedHold, BatchedOutcome>(async (showId, holds) =>
      await holdBatch(db, showId, holds, await termsOf(showId), observer.holdBatchStarted)),
    // One batch of a show at a time: two would choose the same blocks from the same free seats.
    together: createBatchQueue<number, TogetherOutcome>(async (showId, quantities) => {
      observer.holdBatchStarted?.(quantities.length)
      return await holdTogether(db, showId, quantities.map((quantity) => ({ quantity })), await termsOf(showId))
    }, { ...defaultBatchLimits, batchesPerKey: 1 })
  }
  const queues = Object.values(holdBatches)
  const confirmBatches = createConfirmBatches(db)
  const waitingRoom = createWaitingRoom(db, settings.waitingRoom ?? { secret: randomBytes(32).toString('base64url'), admissionSeconds: defaultAdmissionSeconds }, observer)

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

    /**
     * Places a hold; with an idempotency key, at most once per key and body. While the show's
     * waiting room is on, it needs the admission token the queue gave.
     */
    hold: async (request: HoldRequest, idempotencyKey?: string, admissionToken?: string) =>
      await observed('hold', async () =>
        await placeHold(db, holdBatches, { maxSeatsPerBooking: settings.maxSeatsPerBooking, termsOf }, request, idempotencyKey, await waitingRoom.admit(request.showId, admissionToken))),
    getBooking: async (id: string) => await getBooking(db, id),
    confirm: async (id: string) => await observed('confirm', async () => await confirmBooking(db, confirmBatches, id)),
    cancel: async (id: string) => await observed('cancel', async () => await cancelBooking(db, id)),
    extend: async (id: string) => await observed('extend', async () => await extendBooking(db, id, settings)),

    /** Joins the show's waiting room: a signed ticket and its place. */
    joinQueue: async (showId: string) => await waitingRoom.join(showId),
    /** What a ticket of the show's queue says now. */
    queueTicket: async (showId: string, ticket: string) => (await waitingRoom.ticket(showId, ticket)).answer,
    /** Changes a show's waiting room from now on: another rate, or switched off. */
    setWaitingRoom: async (showId: string, update: WaitingRoomUpdate) => {
      await waitingRoom.setRate(showId, 'admit_per_minute' in update ? update.admit_per_minute : null)
      return await getShow(db, showId)
    },
    /** The room itself, for streams that follow many tickets of one show. */
    waitingRoom,

    sweepExpiredHolds: async (batchSize?: number) => {
      const started = performance.now()
      const result = await sweepExpiredHolds(db, batchSize)
      observer.sweepEnded?.(result, (performance.now() - started) / 1000)
      for (const showId of result.showIds) observer.showChanged?.(showId)
      return result
    },
    forgetOldIdempotencyKeys: async () => await forgetOldIdempotencyKeys(db),
    /** Holds waiting for their show's next batch. */
    holdsWaiting: () => queues.reduce((sum, queue) => sum + queue.waiting(), 0),
    /** How long (ms) the hold that has waited longest for its show's next batch has waited. */
    longestHoldWaitMs: () => Math.max(...queues.map((queue) => queue.longestWaitMs()))
  }
}

export type BookingEngine = ReturnType<typeof createBookingEngine>
