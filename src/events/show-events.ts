import type { Availability } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import { EngineError } from '../engine/index.ts'
import { getLiveAvailability } from '../engine/shows.ts'
import { silentLog, type Log } from '../background-log.ts'
import { createListener } from './listener.ts'
import { createPublisher } from './publisher.ts'

const channel = 'show_changed'

/** What it takes to run live availability in a process. */
export interface ShowEventsSettings {
  /**
   * The database of the dedicated LISTEN connection: the application's own database, reached
   * directly (LISTEN does not work through a transaction-mode PgBouncer).
   */
  listenUrl: string
  ssl?: boolean
  /** Keep-alive comments, and a recount for holds that lapse by the clock without a write. */
  heartbeatMs?: number
}

export interface ShowEventsOptions extends ShowEventsSettings {
  db: Database
  log?: Log
  /** Publishing delay, and the least time between two events of one show (100 ms: at most 10 a second). */
  intervalMs?: number
}

/** One subscriber's end of a stream (an HTTP response, say). Its methods must not throw. */
export interface ShowSubscriber {
  /** The show's counts as one line of JSON; never twice the same in a row. */
  availability: (json: string) => void
  keepAlive: () => void
  /** The hub is closing: end the stream. */
  close: () => void
}

export interface Subscription {
  /**
   * True once the show is known to exist: the subscriber has its first counts or will have them
   * within `intervalMs`. False when there is no such show (the subscription is then cancelled).
   * Rejects when the first count fails (the database, say).
   */
  found: Promise<boolean>
  /** Idempotent; call it when the stream ends. */
  cancel: () => void
}

interface Member {
  subscriber: ShowSubscriber
  last?: string
}

interface ShowState {
  id: string
  members: Set<Member>
  /** Settled by the first count. */
  exists: Promise<boolean>
  settle: (exists: boolean | Error) => void
  latest?: string
  /** When the last count started: the moment its numbers are from. */
  countedAt: number
  /**
   * When the last count was sent. The next starts `intervalMs` after it, not after the last start,
   * so that a slow count followed by a quick one cannot put two events closer than that.
   */
  sentAt: number
  counting: boolean
  /** Something may have changed since the last count started. */
  stale: boolean
  timer?: NodeJS.Timeout
  /** Recounts when the show's next hold ends: a lapse changes the counts without any write. */
  lapseTimer?: NodeJS.Timeout
}

interface Counts {
  availability: Availability
  nextHoldEnd: Date | null
}

/** The show's counts, or undefined when there is no such show (a malformed id included). */
async function load (db: Database, showId: string): Promise<Counts | undefined> {
  try {
    return await getLiveAvailability(db, showId)
  } catch (error) {
    if (error instanceof EngineError && error.code === 'show_not_found') return undefined
    throw error
  }
}

/**
 * The per-process hub of live availability. Writes of this process are published (see
 * publisher.ts) to every process on the database; one LISTEN connection per process hears those
 * of every process. A show's counts are computed once for all its subscribers in the process, at
 * most once per `intervalMs`, and sent to each subscriber whose last counts differ. A show's state
 * lives exactly as long as it has subscribers.
 */
export function createShowEvents (options: ShowEventsOptions) {
  const { db, log = silentLog, intervalMs = 100, heartbeatMs = 15_000 } = options
  const shows = new Map<string, ShowState>()
  let subscribers = 0
  let heartbeat: NodeJS.Timeout | undefined
  let closed = false
  let closing: Promise<void> | undefined

  const publisher = createPublisher(db, channel, intervalMs, log)
  const listener = createListener({
    url: options.listenUrl,
    ssl: options.ssl,
    channel,
    log,
    onNotification: (showId) => { markStale(shows.get(showId)) },
    // Whatever changed while nobody listened went unheard: recount every show.
    onListening: () => { for (const state of shows.values()) markStale(state) }
  })

  function markStale (state: ShowState | undefined): void {
    if (state === undefined) return
    state.stale = true
    schedule(state)
  }

  function schedule (state: ShowState): void {
    if (state.counting || state.timer !== undefined || shows.get(state.id) !== state) return
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

  function deliver (member: Member, json: string): void {
    if (member.last === json) return
    member.last = json
    member.subscriber.availability(json)
  }

  async function count (state: ShowState): Promise<void> {
    if (shows.get(state.id) !== state) return
    state.counting = true
    state.stale = false
    state.countedAt = performance.now()
    let counts: Counts | undefined
    try {
      counts = await load(db, state.id)
    } catch (error) {
      state.counting = false
      state.sentAt = performance.now()
      state.settle(error as Error)
      if (state.latest === undefined) drop(state)
      // No retry here, which would hammer a database that is down: the next notification, the
      // heartbeat or the listener's reconnection counts again.
      else log.warn({ err: error, showId: state.id }, 'could not count a show\'s seats for its subscribers')
      return
    }
    state.counting = false
    state.settle(counts !== undefined)
    if (shows.get(state.id) !== state) return
    if (counts === undefined) {
      drop(state)
      return
    }
    recountAtLapse(state, counts.nextHoldEnd)
    const json = JSON.stringify(counts.availability)
    state.latest = json
    for (const member of state.members) deliver(member, json)
    // After the deliveries, not before: writing to one busy stream can take a while, and the next
    // count may be quick, which put a later subscriber's two events 99 ms apart.
    state.sentAt = performance.now()
    if (state.stale) schedule(state)
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

  function newState (id: string): ShowState {
    let settle: (exists: boolean | Error) => void = () => {}
    const exists = new Promise<boolean>((resolve, reject) => {
      settle = (outcome) => { if (outcome instanceof Error) reject(outcome); else resolve(outcome) }
    })
    // A count that fails before anyone awaits `found` must not be an unhandled rejection.
    exists.catch(() => {})
    return { id, members: new Set(), exists, settle, countedAt: -Infinity, sentAt: -Infinity, counting: false, stale: true }
  }

  function drop (state: ShowState): void {
    if (shows.get(state.id) !== state) return
    shows.delete(state.id)
    clearTimeout(state.timer)
    state.timer = undefined
    clearTimeout(state.lapseTimer)
    state.lapseTimer = undefined
    subscribers -= state.members.size
    state.members.clear()
    if (shows.size === 0) {
      clearInterval(heartbeat)
      heartbeat = undefined
    }
  }

  function beat (): void {
    listener.probe()
    for (const state of shows.values()) {
      for (const member of state.members) member.subscriber.keepAlive()
      markStale(state)
    }
  }

  return {
    /** Registers `subscriber` for the show at once; see Subscription for what follows. */
    subscribe (showId: string, subscriber: ShowSubscriber): Subscription {
      if (closed) return { found: Promise.reject(new Error('live availability is closed')), cancel: () => {} }
      listener.start()
      if (heartbeat === undefined) {
        heartbeat = setInterval(beat, heartbeatMs)
        heartbeat.unref()
      }
      let state = shows.get(showId)
      const member: Member = { subscriber }
      if (state === undefined) {
        state = newState(showId)
        shows.set(showId, state)
        state.members.add(member)
        subscribers++
        schedule(state)
      } else {
        state.members.add(member)
        subscribers++
        // A count under way or due reaches the newcomer too. Otherwise counts taken within the
        // last interval are as fresh as any other subscriber's; older ones may miss lapsed holds.
        if (!state.counting && state.timer === undefined) {
          if (state.latest !== undefined && performance.now() - state.countedAt < intervalMs) deliver(member, state.latest)
          else markStale(state)
        }
      }
      const joined = state
      const cancel = (): void => {
        if (!joined.members.delete(member)) return
        subscribers--
        if (joined.members.size === 0) drop(joined)
      }
      const found = joined.exists.then(
        (exists) => {
          if (!exists) cancel()
          return exists
        },
        (error: unknown) => {
          cancel()
          throw error
        }
      )
      return { found, cancel }
    },

    /** The seats of `showId` changed here; wired to the engine's showChanged. */
    publish (showId: string): void {
      publisher.publish(showId)
    },

    subscriberCount: (): number => subscribers,
    /** Whether this process hears other processes' changes now (it connects with the first subscriber). */
    listening: (): boolean => listener.listening(),
    /** Shows with at least one subscriber in this process. */
    showCount: (): number => shows.size,

    /** Ends every stream, sends the changes still pending, and closes the LISTEN connection. */
    async close (): Promise<void> {
      if (closing !== undefined) return await closing
      closed = true
      clearInterval(heartbeat)
      heartbeat = undefined
      for (const state of [...shows.values()]) {
        const members = [...state.members]
        drop(state)
        for (const member of members) member.subscriber.close()
      }
      closing = Promise.all([publisher.close(), listener.close()]).then(() => {})
      await closing
    }
  }
}

export type ShowEvents = ReturnType<typeof createShowEvents>
