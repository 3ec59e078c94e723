import type { Database } from '../db/database.ts'
import { grantedBooking, holdStatement, type FastPass, type HoldRow } from './holds.ts'
import { claimKeys, recordOutcomes, type KeyedRequest, type Outcome } from './idempotency.ts'

export interface HoldBatchLimits {
  /** Hold statements of one show running at once. */
  statementsPerShow: number
  /** Holds waiting before a show that has a statement running starts another. */
  holdsToStartAnother: number
  /** Holds in one statement at most. */
  holdsPerStatement: number
}

/**
 * Measured with pgbench on the 2-core machine, a statement of 8 holds does about 3 times the holds
 * per second of single holds, 16 about 3.5 times. A second statement lets the show's next batch
 * run while the last one's answers are sent, but a second statement of one or two holds costs
 * nearly what a full one does and delays the batch behind it; under a flash sale, starting it only
 * for 16 waiting holds raised the statements' average from 14 holds to 20. At most 64 holds, the
 * flash sale's concurrency, keep one statement within a few milliseconds.
 */
export const defaultHoldBatchLimits: HoldBatchLimits = { statementsPerShow: 2, holdsToStartAnother: 16, holdsPerStatement: 64 }

export interface HoldBatcherOptions {
  limits?: HoldBatchLimits
  /** A hold statement of `holds` holds is starting. */
  statementStarted?: (holds: number) => void
}

interface Waiting {
  quantity: number
  /** performance.now() when it began to wait. */
  since: number
  keyed?: KeyedRequest
  /** With the hold's row, or undefined when its key was not claimed (the hold was not placed). */
  resolve: (row: HoldRow | undefined) => void
  reject: (error: unknown) => void
}

interface ShowQueue {
  waiting: Waiting[]
  inFlight: number
}

/**
 * The skip-locked pass of quantity holds, coalesced per show. When sales open, every request
 * wants the same show; one statement per hold would make each pay a statement, a commit and a
 * round trip, and make the concurrent statements walk past each other's locked seats. Instead, a
 * hold that arrives while a statement for its show is running waits, and goes with every other
 * hold that waited, in one statement, when a statement of the show ends (or, with enough of them
 * waiting, at once beside it). A hold for a quiet show goes at once: no timer, no added wait.
 *
 * Each hold still gets all its seats or none; a statement that comes up short grants its first
 * holds and answers the rest as not granted, for their exact pass. A statement that fails fails
 * every hold in it with its error, as it would have failed each of them alone.
 *
 * Holds with an Idempotency-Key go in the same statements. The batch then runs in a transaction
 * that first claims their keys, in one statement, places only the holds whose key it claimed, and
 * records the outcomes of those it granted before it commits: four more round trips for the
 * batch (begin, claim, record, commit), instead of a claim and a transaction for each key. A key it could not claim is someone
 * else's, or settled: its hold is answered as not placed, for the caller to replay or refuse.
 */
export function createHoldBatcher (db: Database, holdSeconds: number, options: HoldBatcherOptions = {}) {
  const limits = options.limits ?? defaultHoldBatchLimits
  const queues = new Map<string, ShowQueue>()

  async function place (executor: Database, showId: string, batch: Waiting[]): Promise<Map<Waiting, HoldRow>> {
    const keyed = batch.flatMap((hold) => hold.keyed ?? [])
    const claimed = keyed.length === 0 ? new Set<string>() : await claimKeys(executor, keyed, { skipBusy: true })
    // A key sent twice at once is claimed for its first hold only.
    const placing = batch.filter((hold) => hold.keyed === undefined || claimed.delete(hold.keyed.key))
    const placed = new Map<Waiting, HoldRow>()
    if (placing.length === 0) return placed
    options.statementStarted?.(placing.length)
    const { rows } = await holdStatement(showId, placing.map((hold) => hold.quantity), holdSeconds, false).execute(executor)
    if (rows.length !== placing.length || rows.some((row, index) => row.ord !== index + 1)) {
      throw new Error(`hold statement answered ${rows.length} rows for ${placing.length} holds`)
    }
    const decided: Array<{ key: string, outcome: Outcome }> = []
    placing.forEach((hold, index) => {
      const row = rows[index]!
      placed.set(hold, row)
      const booking = grantedBooking(row)
      if (hold.keyed !== undefined && booking !== undefined) decided.push({ key: hold.keyed.key, outcome: { booking } })
    })
    if (decided.length > 0) await recordOutcomes(executor, decided)
    return placed
  }

  async function run (showId: string, batch: Waiting[]): Promise<void> {
    try {
      const placed = batch.some((hold) => hold.keyed !== undefined)
        ? await db.transaction().execute(async (trx) => await place(trx, showId, batch))
        : await place(db, showId, batch)
      for (const hold of batch) hold.resolve(placed.get(hold))
    } catch (error) {
      for (const hold of batch) hold.reject(error)
    }
  }

  const mayStart = (queue: ShowQueue): boolean => queue.waiting.length > 0 && (queue.inFlight === 0 ||
    (queue.inFlight < limits.statementsPerShow && queue.waiting.length >= limits.holdsToStartAnother))

  function dispatch (showId: string, queue: ShowQueue): void {
    while (mayStart(queue)) {
      const batch = queue.waiting.splice(0, limits.holdsPerStatement)
      queue.inFlight++
      void run(showId, batch).finally(() => {
        queue.inFlight--
        if (queue.inFlight === 0 && queue.waiting.length === 0) queues.delete(showId)
        else dispatch(showId, queue)
      })
    }
  }

  async function enqueue (showId: string, quantity: number, keyed?: KeyedRequest): Promise<HoldRow | undefined> {
    return await new Promise((resolve, reject) => {
      let queue = queues.get(showId)
      if (queue === undefined) {
        queue = { waiting: [], inFlight: 0 }
        queues.set(showId, queue)
      }
      queue.waiting.push({ quantity, since: performance.now(), keyed, resolve, reject })
      dispatch(showId, queue)
    })
  }

  // A hold without a key is always placed, so it always has its row.
  const hold: FastPass = async (showId, quantity) => (await enqueue(showId, quantity))!

  return {
    hold,
    /**
     * A hold with an Idempotency-Key that it has not claimed yet: claimed, placed and, when
     * granted, recorded in its statement's transaction. Undefined when the key was not claimed.
     */
    holdOnce: async (showId: string, quantity: number, keyed: KeyedRequest) => await enqueue(showId, quantity, keyed),
    /** Holds waiting for a statement, over all shows. */
    waiting: () => [...queues.values()].reduce((sum, queue) => sum + queue.waiting.length, 0),
    /**
     * How long the hold that has waited longest for its statement has waited (ms), 0 when none
     * waits: what load shedding watches. A count would not do: a flash sale's thousands of waiting
     * holds are a fraction of a second of batched work, while a stalled database shows as age.
     */
    longestWaitMs: () => {
      const now = performance.now()
      let longest = 0
      for (const queue of queues.values()) {
        const first = queue.waiting[0]
        if (first !== undefined) longest = Math.max(longest, now - first.since)
      }
      return longest
    }
  }
}
