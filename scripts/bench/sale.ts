import { holdOf, type Outgoing } from './api.ts'
import { load, type Answer } from './load.ts'
import { round, seconds } from './settings.ts'

export interface SaleOptions {
  connections: number
  /** The request to send; a plain hold of 2 seats when not given. */
  hold?: () => Outgoing
  answered?: (answer: Answer<undefined>) => void
  timeoutSeconds?: number
}

/**
 * A timed sale of 2-seat holds on one show for BENCH_SECONDS. A server that holds 5,000 times a
 * second sells a 100,000-seat show out within the 10 s, so holds per second are counted up to the
 * last 201: the quick 409s after a sell-out do not dilute them, and `lastHeldSeconds` says when
 * that was.
 */
export async function timedSale (base: string, showId: string, options: SaleOptions) {
  const hold = options.hold ?? (() => holdOf(showId, 2))
  let lastHeldMs = 0
  const result = await load<undefined>(base, {
    connections: options.connections,
    seconds,
    timeoutSeconds: options.timeoutSeconds,
    next: () => ({ out: hold(), tag: undefined }),
    answered: (answer) => {
      if (answer.status === 201) lastHeldMs = answer.atMs
      options.answered?.(answer)
    }
  })
  const holds = result.statuses['201'] ?? 0
  return { holds, holdsPerSecond: lastHeldMs > 0 ? round(holds / (lastHeldMs / 1000), 1) : 0, lastHeldSeconds: round(lastHeldMs / 1000, 2), ...result }
}
