import { sql } from 'kysely'
import type { Booking } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import { inTransaction } from './deadlocks.ts'
import { EngineError } from './errors.ts'
import { findFreeRuns, lockFreeSeats, showLayout } from './hold-statements.ts'
import { writeHolds, type HoldTerms } from './hold-writes.ts'
import type { Seat } from './seat-assignment.ts'
import { assignBlocks, freeSeatsOf, layoutOf, seatNosOf, type FreeSummary } from './seat-blocks.ts'
import { showNotFound, whyShowClosed } from './shows.ts'

/** A hold of `quantity` seats together, with the admission it holds under (claimed in the transaction) when it has one. */
export interface TogetherHold {
  quantity: number
  admission?: number | undefined
}

/** What a transaction did with one hold of seats together: granted it, or found no block for it. */
export type TogetherOutcome = { booking: Booking } | { noBlock: FreeSummary }

/**
 * Holds of seats together on one show, in one transaction (the caller's, or one of its own), in
 * the order they were asked. Each round reads the show's free seats without locks (seats that
 * other transactions have locked count as free, as last committed) and chooses the blocks
 * (seat-blocks.ts), then locks the chosen seats in seat order, waiting for those that are locked,
 * and re-checks each under its lock. When every chosen seat is still free, the round's holds are
 * written, and a hold that got no block is refused: no block of its size was free at the round's
 * reading, beside the blocks of the holds before it. When a chosen seat was taken meanwhile, the
 * round is undone to its savepoint, which lets go of its locks, and the next round reads the seats
 * anew: the seats chosen for one hold and not granted may be those another hold needed. So the
 * transaction's seat locks are always taken by one statement in seat order (two such
 * transactions cannot deadlock), and each undone round saw another transaction take a seat, so
 * the rounds end.
 *
 * A show that is closed or gone is answered so (the transaction's error): a batch's holds are all
 * of one show.
 */
export async function holdTogether (db: Database, showId: string, holds: TogetherHold[], terms: HoldTerms): Promise<TogetherOutcome[]> {
  const quantities = holds.map((hold) => hold.quantity)
  return await inTransaction(db, async (trx) => {
    const show = await showLayout(trx, showId).executeTakeFirst()
    if (show === undefined) throw showNotFound(showId)
    const layout = layoutOf(show)
    for (;;) {
      const assigned = assignBlocks(layout, freeSeatsOf(layout, await findFreeRuns(trx, showId).execute()), quantities)
      const chosen = assigned.flatMap((choice, index) => 'block' in choice ? [{ index, seatNos: seatNosOf(layout, choice.block) }] : [])
      const locked = chosen.length === 0 ? { seats: new Map<number, Seat>() } : await lockAll(trx, showId, chosen.flatMap((hold) => hold.seatNos))
      if (locked === undefined) continue
      const { seats, searchedAt } = locked
      const bookings = await writeHolds(trx, showId, chosen.map((hold) => ({ seats: hold.seatNos.map((seatNo) => seats.get(seatNo)!), admission: holds[hold.index]!.admission })), [], searchedAt, terms)
      const granted = new Map(chosen.map((hold, i) => [hold.index, bookings[i]!]))
      const outcomes = assigned.map((choice, index): TogetherOutcome => 'noBlock' in choice ? choice : { booking: granted.get(index)! })
      if (outcomes.some((outcome) => 'noBlock' in outcome)) {
        const closed = await whyShowClosed(trx, showId)
        if (closed !== undefined) throw closed
      }
      return outcomes
    }
  })
}

/**
 * Locks the seats, each re-checked under its lock, and answers them by seat_no, with the clock of
 * the statement that locked them, when all are still free; else undoes the locking, which lets go
 * of the locks it took, and answers undefined.
 */
async function lockAll (trx: Database, showId: string, seatNos: number[]): Promise<{ seats: Map<number, Seat>, searchedAt?: Date } | undefined> {
  // Savepoints have no form in the builder outside a controlled transaction.
  await sql`SAVEPOINT lock_blocks`.execute(trx)
  const locked = await lockFreeSeats(trx, showId, seatNos).execute()
  if (locked.length === seatNos.length) return { seats: new Map(locked.map((seat) => [seat.seat_no, seat])), searchedAt: locked[0]?.searched_at }
  await sql`ROLLBACK TO SAVEPOINT lock_blocks`.execute(trx)
  return undefined
}

/** The refusal of a hold of `quantity` seats together that got no block. */
export function noAdjacentSeats (quantity: number, { available, largestBlock }: FreeSummary): EngineError {
  return new EngineError('no_adjacent_seats', `No row has ${quantity} adjacent free seats; ${available} are free, at most ${largestBlock} together`,
    { available, largest_block: largestBlock })
}
