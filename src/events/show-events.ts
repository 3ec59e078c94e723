import { silentLog, type Log } from '../background-log.ts'
import type { Database } from '../db/database.ts'
import { createBookingWatch, type BookingSubscriber } from './booking-watch.ts'
import { createHeartbeat } from './heartbeat.ts'
import { createListener } from './listener.ts'
import { createPublisher } from './publisher.ts'
import { createRecounts } from './recounts.ts'
import { createShowRegistry } from './show-registry.ts'
import type { Member, ShowSubscriber } from './show-state.ts'

const channel = 'show_changed'

/** At most 10 events a second per show. */
export const defaultIntervalMs = 100
export const defaultHeartbeatMs = 15_000

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
  /** Publishing delay, and the least time between two events of one show. */
  intervalMs?: number
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

/**
 * The per-process hub of live events: show availability and booking status. Writes of this
 * process are published (see publisher.ts) to every process on the database; one LISTEN
 * connection per process hears those of every process; recounts.ts decides when each show is
 * counted again, and booking-watch.ts reads the watched bookings of a changed show again.
 */
export function createShowEvents (options: ShowEventsOptions) {
  const { db, log = silentLog, intervalMs = defaultIntervalMs, heartbeatMs = defaultHeartbeatMs } = options
  let closed = false
  let closing: Promise<void> | undefined

  const heartbeat = createHeartbeat(beat, heartbeatMs)
  /** The heartbeat runs while anyone subscribes. */
  const idle = (): void => { if (registry.showCount() === 0 && bookings.watcherCount() === 0) heartbeat.stop() }
  const registry = createShowRegistry(idle)
  const bookings = createBookingWatch(db, log, idle)
  const recounts = createRecounts({ db, registry, log, intervalMs })
  const publisher = createPublisher(db, channel, intervalMs, log)
  const listener = createListener({
    url: options.listenUrl,
    ssl: options.ssl,
    channel,
    log,
    onNotification: (showId) => {
      recounts.markStale(registry.get(showId))
      bookings.changed(showId)
    },
    // Whatever changed while nobody listened went unheard: recount every show, read every booking.
    onListening: () => {
      for (const state of registry.all()) recounts.markStale(state)
      bookings.readAll()
    }
  })

  /** Keep-alives, a check of the LISTEN connection, and a recount for holds that lapsed unseen. */
  function beat (): void {
    listener.probe()
    for (const state of registry.all()) {
      for (const member of state.members) member.subscriber.keepAlive()
      recounts.markStale(state)
    }
    bookings.keepAlive()
    bookings.readAll()
  }

  const closedSubscription = (): Subscription => ({ found: Promise.reject(new Error('live events are closed')), cancel: () => {} })

  return {
    /**
     * Registers `subscriber` for the show at once; see Subscription for what follows. `seenAt`:
     * the id of the last event the client had (Last-Event-ID); its first counts are then taken no
     * earlier than those.
     */
    subscribe (showId: string, subscriber: ShowSubscriber, seenAt?: bigint): Subscription {
      if (closed) return closedSubscription()
      listener.start()
      heartbeat.start()
      const member: Member = { subscriber }
      const { state, isNew } = registry.join(showId, member)
      if (isNew) recounts.schedule(state)
      else recounts.welcome(state, member, seenAt)
      const cancel = (): void => { registry.leave(state, member) }
      const found = state.exists.then(
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

    /**
     * Sends `subscriber` the booking at once and on every change of it, until its status is final;
     * `found` is settled once the first is sent (see Subscription).
     */
    watchBooking (bookingId: string, subscriber: BookingSubscriber): Subscription {
      if (closed) return closedSubscription()
      listener.start()
      heartbeat.start()
      let cancelled = false
      let leave = (): void => {}
      const found = bookings.watch(bookingId, subscriber).then(
        (end) => {
          if (end === undefined || cancelled) end?.()
          else leave = end
          idle()
          return end !== undefined
        },
        (error: unknown) => {
          idle()
          throw error
        }
      )
      return { found, cancel: () => { cancelled = true; leave() } }
    },

    /** The seats of `showId` changed here; wired to the engine's showChanged. */
    publish (showId: string): void {
      publisher.publish(showId)
    },

    subscriberCount: registry.subscriberCount,
    /** Open booking streams in this process. */
    bookingSubscriberCount: bookings.watcherCount,
    /** Whether this process hears other processes' changes now (it connects with the first subscriber). */
    listening: (): boolean => listener.listening(),
    /** Shows with at least one subscriber in this process. */
    showCount: registry.showCount,

    /** Ends every stream, sends the changes still pending, and closes the LISTEN connection. */
    async close (): Promise<void> {
      if (closing !== undefined) return await closing
      closed = true
      heartbeat.stop()
      bookings.close()
      for (const state of registry.all()) {
        const members = [...state.members]
        registry.drop(state)
        for (const member of members) member.subscriber.close()
      }
      closing = Promise.all([publisher.close(), listener.close()]).then(() => {})
      await closing
    }
  }
}

export type ShowEvents = ReturnType<typeof createShowEvents>
