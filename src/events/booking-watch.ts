import type { Log } from '../background-log.ts'
import type { Database } from '../db/database.ts'
import { readBooking, readBookings, type BookingRead } from '../engine/bookings.ts'

/** One subscriber's end of a booking's stream (an HTTP response, say). Its methods must not throw. */
export interface BookingSubscriber {
  /**
   * The booking as one line of JSON, and the event's id; never the same twice in a row. `final`:
   * its status can no longer change, and nothing follows (the subscriber ends its stream).
   */
  booking: (json: string, id: string, final: boolean) => void
  keepAlive: () => void
  /** The hub is closing: end the stream. */
  close: () => void
}

interface Watcher {
  subscriber: BookingSubscriber
  last?: string
}

interface WatchedBooking {
  id: string
  watchers: Set<Watcher>
  /** Reads the booking again when its hold ends: a lapse changes its status without any write. */
  lapseTimer?: NodeJS.Timeout
}

/** The watched bookings of one show: a change to the show reads them all again, in one statement. */
interface WatchedShow {
  id: string
  bookings: Map<string, WatchedBooking>
  reading: boolean
  /** Something may have changed since the last read started. */
  stale: boolean
}

/** A status that never changes again. CONFIRMED counts: a later cancel is the buyer's own doing. */
const isFinal = (read: BookingRead): boolean => read.booking.status !== 'PENDING'

/**
 * The bookings with subscribers in this process, by show. Every change to a booking is a change
 * to its show, which the hub hears from every process (NOTIFY): `changed` reads the show's
 * watched bookings again and sends each subscriber its booking when it differs. A timer at each
 * hold's end reads it again, since a lapse changes no row.
 */
export function createBookingWatch (db: Database, log: Log, emptied: () => void) {
  const shows = new Map<string, WatchedShow>()
  let watchers = 0
  /** Changes heard so far; a subscription that heard one while it first read its booking reads again. */
  let heard = 0

  function send (watcher: Watcher, read: BookingRead, json: string): void {
    if (watcher.last === json) return
    watcher.last = json
    watcher.subscriber.booking(json, read.readAt, isFinal(read))
  }

  function drop (show: WatchedShow, booking: WatchedBooking): void {
    if (show.bookings.get(booking.id) !== booking) return
    clearTimeout(booking.lapseTimer)
    show.bookings.delete(booking.id)
    watchers -= booking.watchers.size
    booking.watchers.clear()
    if (show.bookings.size === 0) shows.delete(show.id)
    if (shows.size === 0) emptied()
  }

  /** Sends the booking as read to its watchers; a final one is then forgotten, a live one re-read at its end. */
  function deliver (show: WatchedShow, read: BookingRead): void {
    const booking = show.bookings.get(read.booking.id)
    if (booking === undefined) return
    const json = JSON.stringify(read.booking)
    for (const watcher of booking.watchers) send(watcher, read, json)
    if (isFinal(read)) {
      drop(show, booking)
      return
    }
    clearTimeout(booking.lapseTimer)
    // A few ms past the end, so that the database's clock has passed it too; a read that still
    // finds it live sets the timer again.
    booking.lapseTimer = setTimeout(() => { markStale(show) }, Math.max(0, Date.parse(read.booking.hold_expires_at) - Date.now()) + 5)
    booking.lapseTimer.unref()
  }

  function markStale (show: WatchedShow): void {
    show.stale = true
    if (!show.reading) void read(show)
  }

  async function read (show: WatchedShow): Promise<void> {
    show.reading = true
    while (show.stale && shows.get(show.id) === show) {
      show.stale = false
      try {
        const reads = await readBookings(db, show.id, [...show.bookings.keys()])
        for (const each of reads) deliver(show, each)
      } catch (error) {
        // No retry here, which would hammer a database that is down: the next change, the
        // heartbeat or the listener's reconnection reads again.
        log.warn({ err: error, showId: show.id }, 'could not read watched bookings for their subscribers')
        break
      }
    }
    show.reading = false
  }

  function join (read: BookingRead, watcher: Watcher): () => void {
    const showId = read.booking.show_id
    const show = shows.get(showId) ?? { id: showId, bookings: new Map(), reading: false, stale: false }
    shows.set(showId, show)
    const booking = show.bookings.get(read.booking.id) ?? { id: read.booking.id, watchers: new Set() }
    show.bookings.set(booking.id, booking)
    booking.watchers.add(watcher)
    watchers++
    deliver(show, read)
    return () => {
      if (!booking.watchers.delete(watcher)) return
      watchers--
      if (booking.watchers.size === 0) drop(show, booking)
    }
  }

  return {
    /**
     * Reads the booking and sends it to `subscriber` at once, then on every change until it is
     * final. Resolves with a function that ends the subscription, or undefined when there is no
     * such booking.
     */
    async watch (bookingId: string, subscriber: BookingSubscriber): Promise<(() => void) | undefined> {
      const before = heard
      const first = await readBooking(db, bookingId)
      if (first === undefined) return undefined
      const watcher: Watcher = { subscriber }
      if (isFinal(first)) {
        send(watcher, first, JSON.stringify(first.booking))
        return () => {}
      }
      const leave = join(first, watcher)
      // A change heard while the first read ran may have come after it: read again.
      const show = shows.get(first.booking.show_id)
      if (heard !== before && show !== undefined) markStale(show)
      return leave
    },

    /** Something changed in `showId` (a notification from any process). */
    changed (showId: string): void {
      heard++
      const show = shows.get(showId)
      if (show !== undefined) markStale(show)
    },

    /** Changes may have gone unheard (the listener reconnected), or a lapse unseen: read every watched booking again. */
    readAll (): void {
      heard++
      for (const show of shows.values()) markStale(show)
    },

    keepAlive (): void {
      for (const show of shows.values()) for (const booking of show.bookings.values()) for (const watcher of booking.watchers) watcher.subscriber.keepAlive()
    },

    watcherCount: (): number => watchers,

    /** Ends every subscription. */
    close (): void {
      for (const show of [...shows.values()]) {
        for (const booking of [...show.bookings.values()]) {
          const ending = [...booking.watchers]
          drop(show, booking)
          for (const watcher of ending) watcher.subscriber.close()
        }
      }
    }
  }
}

export type BookingWatch = ReturnType<typeof createBookingWatch>
