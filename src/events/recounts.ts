import type { Availability } from '../../api/index.ts'
import type { Log } from '../background-log.ts'
import type { Database } from '../db/database.ts'
import { EngineError } from '../engine/index.ts'
import { getLiveAvailability } from '../engine/shows.ts'
import type { ShowRegistry } from './show-registry.ts'
import { deliver, type Counted, type Member, type ShowState } from './show-state.ts'

interface Counts {
  availability: Availability
  nextHoldEnd: Date | null
  readAt: string
}

/** The show's counts, or undefined when there is no such show (a malformed id included). */
async function loadCounts (db: Database, showId: string): Promise<Counts | undefined> {
  try {
    return await getLiveAvailability(db, showId)
  } catch (error) {
    if (error instanceof EngineError && error.code === 'show_not_found') return undefined
    throw error
  }
}

export interface RecountOptions {
  db: Database
  registry: ShowRegistry
  log: Log
  /** The least time between two counts of one show. */
  intervalMs: number
}

/**
 * When a show's counts are taken and who gets them: once for all its subscribers in the process,
 * at most once per `intervalMs`, sent to each subscriber whose last counts differ.
 */
export function createRecounts ({ db, registry, log, intervalMs }: RecountOptions) {
  /** Something may have changed: count the show again as soon as the interval allows. */
  function markStale (state: ShowState | undefined): void {
    if (state === undefined) return
    state.stale = true
    schedule(state)
  }

  function schedule (state: ShowState): void {
    if (state.counting || state.timer !== undefined || !registry.isCurrent(state)) return
    const wait = state.sentAt + intervalMs - performance.now()
    if (wait <= 0) {
      void count(state)
      return
    }
    // Timers may fire a fraction of a millisecond early: check again rather than count at once.
    state.timer = setTimeout(() => {
      state.timer = undefined
      schedule(state)
    }, Math.ceil(wait))
  }

  async function count (state: ShowState): Promise<void> {
    if (!registry.isCurrent(state)) return
    state.counting = true
    state.stale = false
    state.countedAt = performance.now()
    let counts: Counts | undefined
    try {
      counts = await loadCounts(db, state.id)
    } catch (error) {
      countFailed(state, error as Error)
      return
    }
    state.counting = false
    state.settle(counts !== undefined)
    if (!registry.isCurrent(state)) return
    if (counts === undefined) {
      registry.drop(state)
      return
    }
    recountAtLapse(state, counts.nextHoldEnd)
    send(state, { json: JSON.stringify(counts.availability), id: counts.readAt })
    if (state.stale) schedule(state)
  }

  function countFailed (state: ShowState, error: Error): void {
    state.counting = false
    state.sentAt = performance.now()
    state.settle(error)
    if (state.latest === undefined) registry.drop(state)
    // No retry here, which would hammer a database that is down: the next notification, the
    // heartbeat or the listener's reconnection counts again.
    else log.warn({ err: error, showId: state.id }, 'could not count a show\'s seats for its subscribers')
  }

  function send (state: ShowState, counted: Counted): void {
    state.latest = counted
    for (const member of state.members) deliver(member, counted)
    // After the deliveries, not before: writing to one busy stream can take a while, and the next
    // count may be quick, which put a later subscriber's two events 99 ms apart.
    state.sentAt = performance.now()
  }

  function recountAtLapse (state: ShowState, nextHoldEnd: Date | null): void {
    clearTimeout(state.lapseTimer)
    state.lapseTimer = undefined
    if (nextHoldEnd === null) return
    // A few ms past the end, so that the database's clock has passed it too.
    state.lapseTimer = setTimeout(() => {
      state.lapseTimer = undefined
      markStale(state)
    }, Math.max(0, nextHoldEnd.getTime() - Date.now()) + 5)
    state.lapseTimer.unref()
  }

  /**
   * A newcomer to a show others already watch. A count under way or due reaches it too.
   * Otherwise counts taken within the last interval are as fresh as any other subscriber's;
   * older ones may miss lapsed holds. A client back with the id of counts taken after the last
   * ones here (by another process, say) gets a count taken after its own, never older counts.
   */
  function welcome (state: ShowState, member: Member, seenAt?: bigint): void {
    const latest = state.latest
    const caughtUp = seenAt === undefined || (latest !== undefined && BigInt(latest.id) >= seenAt)
    if (state.counting || state.timer !== undefined) {
      if (!caughtUp) markStale(state)
      return
    }
    if (latest !== undefined && caughtUp && performance.now() - state.countedAt < intervalMs) deliver(member, latest)
    else markStale(state)
  }

  return { markStale, schedule, welcome }
}
