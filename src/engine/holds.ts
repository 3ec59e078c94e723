import type { Booking } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import type { BatchQueue } from './batch-queue.ts'
import { inTransaction } from './deadlocks.ts'
import { EngineError, invalidInput } from './errors.ts'
import { pickLabelledSeats, pickSeats } from './hold-statements.ts'
import { writeHolds, type HoldTerms } from './hold-writes.ts'
import { claimNewKeys, decideOnce, requestHash, runOnce, type KeyedRequest } from './idempotency.ts'
import { assignLabels, assignSeats } from './seat-assignment.ts'
import { showNotFound, whyShowClosed } from './shows.ts'
import { holdTogether, noAdjacentSeats, type TogetherOutcome } from './together-holds.ts'
import { isUuid } from './uuid.ts'
import { addAdmissions, claimAdmissions } from './waiting-room/statements.ts'

export type HoldRequest =
  | { showId: string, quantity: number }
  | { showId: string, quantity: number, together: true }
  | { showId: string, labels: string[] }

/** The per-show queues of holds: holds by quantity, and holds of seats together (by their quantity). */
export interface HoldBatches {
  quantity: BatchQueue<BatchedHold, BatchedOutcome>
  together: BatchQueue<number, TogetherOutcome>
}

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
 * out because its admission or its key was not claimed (an admission in use or locked; a key that
 * is someone else's, settled, or being decided elsewhere).
 */
export type BatchedOutcome =
  | { kind: 'granted', booking: Booking }
  | { kind: 'not granted' }
  | { kind: 'not claimed' }

export interface HoldSettings {
  maxSeatsPerBooking: number
  /** The terms the holds of show `showId` are written with. */
  termsOf: (showId: string) => Promise<HoldTerms>
}

/**
 * Places a hold: a PENDING booking of the show's seats that lasts its terms' `holdSeconds`; with an
 * Idempotency-Key, at most once per key and body. In order:
 *
 * 1. limits: the seat count and the show id (the admission was checked before);
 * 2. a hold of seats together (holdTogether) goes with the other such holds of its show in one
 *    transaction, or, with a key, runs alone in the key's own transaction, as a hold by labels does;
 * 3. the batched pass: a quantity hold goes with the other holds of its show in one transaction
 *    (holdBatch) that claims their keys and skips seats other transactions have locked;
 * 4. the passes that wait for locked seats (holdWaitingForLocks), when the batch did not grant it
 *    or it asks for labelled seats: with a key, in the key's own transaction;
 * 5. the outcome: the booking, or the refusal, which a key records for its retries.
 *
 * With an admission (the sequence number of a valid admission token), each pass claims it in its
 * transaction: an admission whose last hold is still live holds nothing more (admission_in_use).
 */
export async function placeHold (
  db: Database,
  batches: HoldBatches,
  settings: HoldSettings,
  request: HoldRequest,
  idempotencyKey?: string,
  admission?: number
): Promise<Booking> {
  const [field, count] = 'labels' in request ? ['seats', request.labels.length] : ['quantity', request.quantity]
  if (count > settings.maxSeatsPerBooking) throw invalidInput(field, `must ask for at most ${settings.maxSeatsPerBooking} seats`)
  if (!isUuid(request.showId)) throw showNotFound(request.showId)
  const keyed = idempotencyKey === undefined ? undefined : { showId: request.showId, key: idempotencyKey, hash: requestHash(request) }

  const terms = await settings.termsOf(request.showId)
  return 'together' in request
    ? await holdSeatsTogether(db, batches.together, terms, request, keyed, admission)
    : await holdSeats(db, batches.quantity, terms, request, keyed, admission)
}

/** Steps 3 and 4 of placeHold for a hold by quantity or by labels. */
async function holdSeats (
  db: Database,
  batches: HoldBatches['quantity'],
  terms: HoldTerms,
  request: Exclude<HoldRequest, { together: true }>,
  keyed: KeyedRequest | undefined,
  admission: number | undefined
): Promise<Booking> {
  const batched = 'quantity' in request ? await batches.submit(request.showId, { quantity: request.quantity, keyed, admission }) : undefined
  if (batched?.kind === 'granted') return batched.booking
  const holdWaiting = async (trx: Database) =>
    await underAdmission(trx, request.showId, admission, async (trx) => await holdWaitingForLocks(trx, request, terms, admission))
  if (keyed === undefined) return await holdWaiting(db)
  // The batch claimed the key: it is this request's to decide.
  if (batched?.kind === 'not granted') return await decideOnce(db, keyed, holdWaiting)
  return await runOnce(db, keyed, holdWaiting)
}

/**
 * Step 2 of placeHold: a hold of seats together, with the other such holds of its show, or alone
 * in its own transaction when it has a key (the key's) or an admission (claimed in it).
 */
async function holdSeatsTogether (
  db: Database,
  batches: HoldBatches['together'],
  terms: HoldTerms,
  { showId, quantity }: Extract<HoldRequest, { together: true }>,
  keyed: KeyedRequest | undefined,
  admission: number | undefined
): Promise<Booking> {
  if (keyed === undefined && admission === undefined) return togetherAnswer(quantity, await batches.submit(showId, quantity))
  const holdAlone = async (trx: Database) => await underAdmission(trx, showId, admission, async (trx) =>
    togetherAnswer(quantity, (await holdTogether(trx, showId, [{ quantity, admission }], terms))[0]!))
  return keyed === undefined ? await holdAlone(db) : await runOnce(db, keyed, holdAlone)
}

/** Runs `run` in a transaction that has claimed `admission` first, or as it is without one. */
async function underAdmission<T> (db: Database, showId: string, admission: number | undefined, run: (trx: Database) => Promise<T>): Promise<T> {
  if (admission === undefined) return await run(db)
  return await inTransaction(db, async (trx) => {
    if ((await claimedAdmissions(trx, showId, [admission], 'wait')).size === 0) {
      throw new EngineError('admission_in_use', 'This admission holds a booking still PENDING: confirm or cancel it first')
    }
    return await run(trx)
  })
}

/**
 * Claims the admissions among `seqs` that hold no live booking, in the caller's transaction;
 * with 'skip-locked', not those another transaction is holding with right now.
 */
async function claimedAdmissions (trx: Database, showId: string, seqs: number[], lockWait: 'skip-locked' | 'wait'): Promise<Set<number>> {
  const unique = [...new Set(seqs)]
  await addAdmissions(trx, showId, unique).execute()
  const rows = await claimAdmissions(trx, showId, unique, lockWait).execute()
  return new Set(rows.map((row) => Number(row.seq)))
}

/** The booking of a hold of seats together, or its refusal. */
function togetherAnswer (quantity: number, outcome: TogetherOutcome): Booking {
  if ('booking' in outcome) return outcome.booking
  throw noAdjacentSeats(quantity, outcome.noBlock)
}

/**
 * One transaction for a batch of one show's quantity holds: their admissions and keys claimed,
 * the seats found with other transactions' locked seats skipped, handed out in the order the holds
 * were asked, and written, with the granted keys' outcomes. An admission or a key it cannot claim
 * at once is left out, its hold not placed (admissions first, so that a key is claimed only for a
 * hold the batch places). Returns what it did with each hold, in order.
 */
export async function holdBatch (
  db: Database,
  showId: string,
  holds: BatchedHold[],
  terms: HoldTerms,
  placing?: (holds: number) => void
): Promise<BatchedOutcome[]> {
  return await inTransaction(db, async (trx) => {
    // An admission in use, locked or sent twice at once is not granted here; the hold's own pass tells why.
    const admissions = holds.flatMap((hold) => hold.admission ?? [])
    const admitted = admissions.length === 0 ? new Set<number>() : await claimedAdmissions(trx, showId, admissions, 'skip-locked')
    const admittedHolds = holds.filter((hold) => hold.admission === undefined || admitted.delete(hold.admission))
    const keyed = admittedHolds.flatMap((hold) => hold.keyed ?? [])
    const claimed = keyed.length === 0 ? new Set<string>() : await claimNewKeys(trx, showId, keyed)
    // A key sent twice at once is claimed for its first hold only.
    const placed = admittedHolds.filter((hold) => hold.keyed === undefined || claimed.delete(hold.keyed.key))
    if (placed.length > 0) placing?.(placed.length)
    const { bookings } = placed.length === 0 ? { bookings: [] } : await holdFound(trx, showId, placed, terms, 'skip-locked')
    const position = new Map(placed.map((hold, index) => [hold, index]))
    return holds.map((hold): BatchedOutcome => {
      const index = position.get(hold)
      if (index === undefined) return { kind: 'not claimed' }
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
  terms: HoldTerms,
  lockWait: 'skip-locked' | 'wait'
): Promise<{ bookings: Array<Booking | undefined>, found: number }> {
  const quantities = holds.map((hold) => hold.quantity)
  const found = await pickSeats(trx, showId, quantities.reduce((sum, quantity) => sum + quantity, 0), lockWait).execute()
  const assignment = assignSeats(quantities, found)
  const grants = assignment.seats.flatMap((seats, index) => seats === undefined ? [] : [{ index, seats, keyed: holds[index]!.keyed, admission: holds[index]!.admission }])
  const bookings = await writeHolds(trx, showId, grants, assignment.released, found[0]?.searched_at, terms)
  const byHold = new Map(grants.map((grant, i) => [grant.index, bookings[i]]))
  return { bookings: holds.map((_, index) => byHold.get(index)), found: assignment.picked }
}

/**
 * The hold decided while waiting for seats that other transactions have locked, each re-checked
 * once its lock is granted, so that a refusal is true. Each search and its writes are one
 * transaction (the key's, with a key), so a search that comes up short lets its locks go at once.
 */
async function holdWaitingForLocks (db: Database, request: HoldRequest, terms: HoldTerms, admission?: number): Promise<Booking> {
  const { showId } = request
  if ('labels' in request) {
    const assigned = await inTransaction(db, async (trx) => {
      const found = await pickLabelledSeats(trx, showId, request.labels).execute()
      const assigned = assignLabels(request.labels, found)
      return 'seats' in assigned
        ? { booking: (await writeHolds(trx, showId, [{ seats: assigned.seats, admission }], [], found[0]?.searched_at, terms))[0]! }
        : assigned
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
    const result = await inTransaction(db, async (trx) => await holdFound(trx, showId, [{ quantity: request.quantity, admission }], terms, 'wait'))
    if (result.bookings[0] !== undefined) return result.bookings[0]
    free = result.found
  }
  throw await whyShowClosed(db, showId) ??
    new EngineError('insufficient_seats', `Asked for ${request.quantity} seats, ${free} are free`, { available: free })
}
