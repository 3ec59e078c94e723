import { randomUUID } from 'node:crypto'
import type { Booking } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import type { BatchQueue } from './batch-queue.ts'
import { toBooking } from './bookings.ts'
import { retryOnDeadlock } from './deadlocks.ts'
import { EngineError, invalidInput } from './errors.ts'
import { insertBookings, listBookingSeats, markSeats, pickLabelledSeats, pickSeats, showStart } from './hold-statements.ts'
import { claimKeys, decideOnce, requestHash, runOnce, type DecidedKey, type KeyedRequest } from './idempotency.ts'
import { assignLabels, assignSeats, type Seat } from './seat-assignment.ts'
import { showNotFound } from './shows.ts'
import { claimAdmissions, recordAdmissions } from './waiting-room/statements.ts'
import { isUuid } from './uuid.ts'

export type HoldRequest =
  | { showId: string, quantity: number }
  | { showId: string, labels: string[] }

/**
 * A quantity hold waiting for its show's next batch, with its Idempotency-Key when it has one,
 * and the sequence number of its admission when the show's waiting room is on.
 */
export interface BatchedHold {
  quantity: number
  keyed?: KeyedRequest
  admission?: number
}

/**
 * What a batch did with one hold: granted it, placed it without finding it enough seats, or left it
 * out because its key was not claimed (someone else's, settled, or being decided elsewhere).
 */
export type BatchedOutcome =
  | { kind: 'granted', booking: Booking }
  | { kind: 'not granted' }
  | { kind: 'key not claimed' }

export interface HoldSettings {
  holdSeconds: number
  maxSeatsPerBooking: number
}

/**
 * Places a hold: a PENDING booking of the show's seats that lasts `holdSeconds`; with an
 * Idempotency-Key, at most once per key and body. In order:
 *
 * 1. limits: the seat count and the show id (the admission was checked before);
 * 2. the batched pass: a quantity hold goes with the other holds of its show in one transaction
 *    (holdBatch) that claims their keys and skips seats other transactions have locked;
 * 3. the passes that wait for locked seats (holdWaitingForLocks), when the batch did not grant it
 *    or it asks for labelled seats: with a key, in the key's own transaction;
 * 4. the outcome: the booking, or the refusal, which a key records for its retries.
 *
 * With an admission (the sequence number of a valid admission token), each pass claims it in its
 * transaction: an admission whose last hold is still live holds nothing more (admission_in_use).
 */
export async function placeHold (
  db: Database,
  batches: BatchQueue<BatchedHold, BatchedOutcome>,
  settings: HoldSettings,
  request: HoldRequest,
  idempotencyKey?: string,
  admission?: number
): Promise<Booking> {
  const [field, count] = 'labels' in request ? ['seats', request.labels.length] : ['quantity', request.quantity]
  if (count > settings.maxSeatsPerBooking) throw invalidInput(field, `must ask for at most ${settings.maxSeatsPerBooking} seats`)
  if (!isUuid(request.showId)) throw showNotFound(request.showId)
  const keyed = idempotencyKey === undefined ? undefined : { showId: request.showId, key: idempotencyKey, hash: requestHash(request) }

  const batched = 'quantity' in request ? await batches.submit(request.showId, { quantity: request.quantity, keyed, admission }) : undefined
  if (batched?.kind === 'granted') return batched.booking

  const holdWaiting = async (trx: Database) => admission === undefined
    ? await holdWaitingForLocks(trx, request, settings.holdSeconds)
    : await inTransaction(trx, async (trx) => {
      await claimAdmission(trx, request.showId, admission)
      return await holdWaitingForLocks(trx, request, settings.holdSeconds, admission)
    })
  if (keyed === undefined) return await holdWaiting(db)
  // The batch claimed the key: it is this request's to decide.
  if (batched?.kind === 'not granted') return await decideOnce(db, keyed, holdWaiting)
  return await runOnce(db, keyed, holdWaiting)
}

/**
 * One transaction for a batch of one show's quantity holds: their keys claimed, the seats found
 * with other transactions' locked seats skipped, handed out in the order the holds were asked,
 * and written, with the granted keys' outcomes. A key it cannot claim at once is left out, its
 * hold not placed. Returns what it did with each hold, in order.
 */
export async function holdBatch (
  db: Database,
  showId: string,
  holds: BatchedHold[],
  holdSeconds: number,
  placing?: (holds: number) => void
): Promise<BatchedOutcome[]> {
  return await inTransaction(db, async (trx) => {
    const keyed = holds.flatMap((hold) => hold.keyed ?? [])
    const claimed = keyed.length === 0 ? new Set<string>() : await claimKeys(trx, showId, keyed, { skipBusy: true })
    // A key sent twice at once is claimed for its first hold only.
    const keyPlaced = holds.filter((hold) => hold.keyed === undefined || claimed.delete(hold.keyed.key))
    // An admission in use (or sent twice at once) is not granted here; the hold's own pass tells why.
    const admissions = keyPlaced.flatMap((hold) => hold.admission ?? [])
    const admitted = admissions.length === 0 ? new Set<number>() : await claimedAdmissions(trx, showId, admissions)
    const placed = keyPlaced.filter((hold) => hold.admission === undefined || admitted.delete(hold.admission))
    if (placed.length > 0) placing?.(placed.length)
    const { bookings } = placed.length === 0 ? { bookings: [] } : await holdFound(trx, showId, placed, holdSeconds, 'skip-locked')
    const position = new Map(placed.map((hold, index) => [hold, index]))
    return holds.map((hold): BatchedOutcome => {
      const index = position.get(hold)
      if (index === undefined) return { kind: 'key not claimed' }
      const booking = bookings[index]
      return booking === undefined ? { kind: 'not granted' } : { kind: 'granted', booking }
    })
  })
}

/**
 * Finds seats for `holds` and writes those it can grant, in seat order, in the caller's
 * transaction. Returns each hold's booking, or undefined for a hold the seats did not reach, and
 * how many seats it found for them.
 */
async function holdFound (
  trx: Database,
  showId: string,
  holds: BatchedHold[],
  holdSeconds: number,
  lockWait: 'skip-locked' | 'wait'
): Promise<{ bookings: Array<Booking | undefined>, found: number }> {
  const quantities = holds.map((hold) => hold.quantity)
  const found = await pickSeats(trx, showId, quantities.reduce((sum, quantity) => sum + quantity, 0), lockWait).execute()
  const assignment = assignSeats(quantities, found)
  const grants = assignment.seats.flatMap((seats, index) => seats === undefined ? [] : [{ index, seats, keyed: holds[index]!.keyed, admission: holds[index]!.admission }])
  const bookings = await writeHolds(trx, showId, grants, assignment.released, holdSeconds)
  const byHold = new Map(grants.map((grant, i) => [grant.index, bookings[i]]))
  return { bookings: holds.map((_, index) => byHold.get(index)), found: assignment.picked }
}

interface Grant {
  seats: Seat[]
  keyed?: KeyedRequest
  /** The admission it holds under, claimed earlier in the transaction. */
  admission?: number | undefined
}

/**
 * Writes the granted holds: their bookings, their seat lists, and the seats' new holders (with the
 * lapsed seats to release), in the order the foreign keys need; records the outcomes of the keyed
 * ones in the same transaction. Returns the bookings in the grants' order.
 */
async function writeHolds (trx: Database, showId: string, grants: Grant[], released: number[], holdSeconds: number): Promise<Booking[]> {
  const holds = grants.map((grant) => ({ id: randomUUID(), quantity: grant.seats.length, seats: grant.seats, keyed: grant.keyed, admission: grant.admission }))
  let bookings: Booking[] = []
  if (holds.length > 0) {
    const rows = await insertBookings(trx, showId, holds, holdSeconds).execute()
    const byId = new Map(rows.map((row) => [row.id, row]))
    bookings = holds.map((hold) => toBooking({ ...byId.get(hold.id)!, seats: hold.seats.map((seat) => seat.label) }))
    await listBookingSeats(trx, showId, holds.flatMap((hold) => hold.seats.map((seat) => ({ booking_id: hold.id, seat_no: seat.seat_no })))).execute()
  }
  const admitted = holds.flatMap((hold, i) => hold.admission === undefined ? [] : [{ seq: hold.admission, booking_id: hold.id, held_until: bookings[i]!.hold_expires_at }])
  if (admitted.length > 0) await recordAdmissions(trx, showId, admitted).execute()
  const decided: DecidedKey[] = holds.flatMap((hold, i) => hold.keyed === undefined ? [] : [{ key: hold.keyed.key, outcome: { booking: bookings[i]! } }])
  const seats: Array<{ seat_no: number, booking_id: string | null }> = [
    ...holds.flatMap((hold) => hold.seats.map((seat) => ({ seat_no: seat.seat_no, booking_id: hold.id }))),
    ...released.map((seatNo) => ({ seat_no: seatNo, booking_id: null }))
  ]
  if (seats.length > 0) await markSeats(trx, showId, seats, decided).execute()
  return bookings
}

/**
 * The hold decided while waiting for seats that other transactions have locked, each re-checked
 * once its lock is granted, so that a refusal is true. Each search and its writes are one
 * transaction (the key's, with a key), so a search that comes up short lets its locks go at once.
 */
async function holdWaitingForLocks (db: Database, request: HoldRequest, holdSeconds: number, admission?: number): Promise<Booking> {
  const { showId } = request
  if ('labels' in request) {
    const assigned = await inTransaction(db, async (trx) => {
      const assigned = assignLabels(request.labels, await pickLabelledSeats(trx, showId, request.labels).execute())
      return 'seats' in assigned ? { booking: (await writeHolds(trx, showId, [{ seats: assigned.seats, admission }], [], holdSeconds))[0]! } : assigned
    })
    if ('booking' in assigned) return assigned.booking
    throw await whyShowClosed(db, showId) ??
      new EngineError('seats_unavailable', `Seats ${assigned.unavailable.join(', ')} are not free`, { unavailable: assigned.unavailable })
  }
  // A lapsed seat that the sweep releases while the search waits for its lock is re-checked as a
  // held one and passed over, though free all along; a second search sees it as free.
  let free = 0
  for (let tries = 0; tries < 2; tries++) {
    // Waiting is worth it only when enough seats are free as last committed (seats that another
    // transaction has locked and will give up count as free there). Otherwise the refusal is true
    // now, and is answered without taking a lock: after a sell-out, every request would otherwise
    // queue for the last few seats' locks.
    free = assignSeats([request.quantity], await pickSeats(db, showId, request.quantity, 'no locks').execute()).picked
    if (free < request.quantity) break
    const result = await inTransaction(db, async (trx) => await holdFound(trx, showId, [{ quantity: request.quantity, admission }], holdSeconds, 'wait'))
    if (result.bookings[0] !== undefined) return result.bookings[0]
    free = result.found
  }
  throw await whyShowClosed(db, showId) ??
    new EngineError('insufficient_seats', `Asked for ${request.quantity} seats, ${free} are free`, { available: free })
}

/** Claims the admissions among `seqs` that hold no live booking, in the caller's transaction. */
async function claimedAdmissions (trx: Database, showId: string, seqs: number[]): Promise<Set<number>> {
  const unique = [...new Set(seqs)]
  const rows = await claimAdmissions(trx, showId, unique).execute()
  return new Set(rows.map((row) => Number(row.seq)))
}

/** Claims one admission for a hold in the caller's transaction, or refuses the hold. */
async function claimAdmission (trx: Database, showId: string, seq: number): Promise<void> {
  if ((await claimedAdmissions(trx, showId, [seq])).size === 0) {
    throw new EngineError('admission_in_use', 'This admission holds a booking still PENDING: confirm or cancel it first')
  }
}

/** Runs `run` in the caller's transaction, or in one of its own retried as a deadlock's victim. */
async function inTransaction<T> (db: Database, run: (trx: Database) => Promise<T>): Promise<T> {
  if (db.isTransaction) return await run(db)
  return await retryOnDeadlock(async () => await db.transaction().execute(run))
}

/** Why the show takes no holds (it does not exist, or has started), or undefined when it does. */
async function whyShowClosed (db: Database, showId: string): Promise<EngineError | undefined> {
  const show = await showStart(db, showId).executeTakeFirst()
  if (show === undefined) return showNotFound(showId)
  if (show.open) return undefined
  return new EngineError('sales_closed', `The show started at ${show.start_time.toISOString()}; sales are closed`)
}
