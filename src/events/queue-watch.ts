import type { QueueTicket } from '../../api/index.ts'
import { silentLog, type Log } from '../background-log.ts'
import type { WaitingRoom } from '../engine/waiting-room/index.ts'
import { createHeartbeat } from './heartbeat.ts'

/** Where a watched ticket's changes go: a Server-Sent Events stream. */
export interface TicketSubscriber {
  event: (name: string, json: string) => void
  keepAlive: () => void
  end: () => void
}

interface Watched {
  subscriber: TicketSubscriber
  ticket: string
  seq: number
  joinedAt: number
  last: string
}

export const queueCheckMs = 1_000
export const queueKeepAliveMs = 15_000

/**
 * The per-process hub of queue streams: once a second, one read of each watched show's room
 * (shared with the polls, see the waiting room's reads) and each of its tickets computed anew; a
 * ticket whose answer changed gets it, and an admitted one's stream ends after it.
 */
export function createQueueWatch (room: WaitingRoom, log: Log = silentLog, checkMs = queueCheckMs, keepAliveMs = queueKeepAliveMs) {
  const shows = new Map<string, Set<Watched>>()
  const check = createHeartbeat(() => { void checkAll() }, checkMs)
  const keepAlive = createHeartbeat(() => { for (const watched of everyone()) watched.subscriber.keepAlive() }, keepAliveMs)
  let checking = false

  function * everyone (): Generator<Watched> {
    for (const watchers of shows.values()) yield * watchers
  }

  /** Sends a ticket's answer when it changed; true when the stream is done (admitted). */
  function send (watched: Watched, answer: QueueTicket): boolean {
    const json = JSON.stringify(answer)
    if (json !== watched.last) watched.subscriber.event('ticket', json)
    watched.last = json
    return answer.status === 'admitted'
  }

  async function checkAll (): Promise<void> {
    if (checking) return
    checking = true
    try {
      for (const [showId, watchers] of shows) {
        try {
          const { room: current } = await room.current(showId)
          if (current === undefined) continue
          for (const watched of watchers) {
            if (send(watched, room.view(current, watched.ticket, watched.seq, watched.joinedAt))) remove(showId, watched, true)
          }
        } catch (error) {
          log.warn({ err: error, showId }, 'checking a waiting room for its streams failed; trying again in a second')
        }
      }
    } finally {
      checking = false
    }
  }

  function remove (showId: string, watched: Watched, end: boolean): void {
    const watchers = shows.get(showId)
    watchers?.delete(watched)
    if (watchers?.size === 0) shows.delete(showId)
    if (end) watched.subscriber.end()
    if (shows.size === 0) {
      check.stop()
      keepAlive.stop()
    }
  }

  return {
    /**
     * Sends `first` (what the ticket says now), then its changes until it is admitted. Returns
     * the cancel to call when the stream closes.
     */
    watch (showId: string, first: QueueTicket, claims: { seq: number, joinedAt: number }, subscriber: TicketSubscriber): () => void {
      const watched: Watched = { subscriber, ticket: first.ticket, ...claims, last: '' }
      if (send(watched, first)) {
        subscriber.end()
        return () => {}
      }
      const watchers = shows.get(showId) ?? new Set()
      watchers.add(watched)
      shows.set(showId, watchers)
      check.start()
      keepAlive.start()
      return () => { remove(showId, watched, false) }
    },
    /** Ends every stream. */
    close (): void {
      for (const [showId, watchers] of shows) for (const watched of watchers) remove(showId, watched, true)
    },
    watching: (): number => [...shows.values()].reduce((sum, watchers) => sum + watchers.size, 0)
  }
}

export type QueueWatch = ReturnType<typeof createQueueWatch>
