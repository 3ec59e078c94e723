import type { Database } from '../db/database.ts'
import { holdStatement, type FastPass, type HoldRow } from './holds.ts'

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
  resolve: (row: HoldRow) => void
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
 */
export function createHoldBatcher (db: Database, holdSeconds: number, options: HoldBatcherOptions = {}) {
  const limits = options.limits ?? defaultHoldBatchLimits
  const queues = new Map<string, ShowQueue>()

  async function run (showId: string, batch: Waiting[]): Promise<void> {
    options.statementStarted?.(batch.length)
    try {
      const { rows } = await holdStatement(showId, batch.map((hold) => hold.quantity), holdSeconds, false).execute(db)
      batch.forEach((hold, index) => {
        const row = rows[index]
        if (row?.ord === index + 1) hold.resolve(row)
        else hold.reject(new Error(`hold statement answered ${rows.length} rows for ${batch.length} holds`))
      })
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

  const hold: FastPass = async (showId, quantity) => await new Promise<HoldRow>((resolve, reject) => {
    let queue = queues.get(showId)
    if (queue === undefined) {
      queue = { waiting: [], inFlight: 0 }
      queues.set(showId, queue)
    }
    queue.waiting.push({ quantity, resolve, reject })
    dispatch(showId, queue)
  })

  return {
    hold,
    /** Holds waiting for a statement, over all shows: the hold path's queue, for load shedding. */
    waiting: () => [...queues.values()].reduce((sum, queue) => sum + queue.waiting.length, 0)
  }
}
