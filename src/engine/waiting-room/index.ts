import type { QueueTicket } from '../../../api/index.ts'
import type { Database } from '../../db/database.ts'
import { createBatchQueue } from '../batch-queue.ts'
import { EngineError } from '../errors.ts'
import { showNotFound } from '../shows.ts'
import { isUuid } from '../uuid.ts'
import { admissionTime, admittedBy, placeOf, type Room } from './schedule.ts'
import { createSigner, type Refusal } from './signing.ts'
import { addRateSetting, createRoom, joinRoom, lockRoom, readShowRoom, toRoom, type ShowRoomRow } from './statements.ts'

/** How long an admission lasts when ADMISSION_TTL_SECONDS is not set. */
export const defaultAdmissionSeconds = 600

export interface WaitingRoomSettings {
  /** Signs tickets and admission tokens; every process of the service must have the same. */
  secret: string
  /** How long an admission lasts from the moment it is reached. */
  admissionSeconds: number
}

export interface WaitingRoomObserver {
  /** A process read the room: how many wait in it, how many were admitted, the rate in force. */
  roomRead?: (showId: string, state: { waiting: number, admitted: number, admitPerMinute: number | null }) => void
  /** A hold was refused for its admission token: none, forged, another show's, or expired. */
  admissionRefused?: (reason: Refusal | 'missing') => void
}

/**
 * A read of a show and its room serves every request of that show in this process for up to a
 * second (the clock moved on by the time since): polls and streams of thousands of waiting
 * buyers cost one read a second, and a rate change reaches every process within one.
 */
const readReuseMs = 1_000

/**
 * Early joiners are placed once their count is final. A join locks the room and reads the clock
 * before it commits, so a read just after the opening might miss one that was still committing;
 * their places are drawn from reads this long after the opening.
 */
export const placementDelayMs = 2_000

interface ShowRead {
  row: ShowRoomRow
  room: Room | undefined
  /** performance.now() when it was read. */
  readAt: number
}

/**
 * The waiting room of a show's on-sale: joining (a batched update of a counter), each ticket's
 * place and admission computed from the room's row and rate settings with the database's clock,
 * and the check of admission tokens on holds. Nothing runs in the background and nothing is kept
 * per buyer until it holds seats: every process answers the same from the same rows, and a
 * restart loses nobody's place.
 */
export function createWaitingRoom (db: Database, settings: WaitingRoomSettings, observer: WaitingRoomObserver = {}) {
  const signer = createSigner(settings.secret)
  const reads = new Map<string, ShowRead>()
  // A sale's first second brings thousands of requests for a show nobody read yet: they wait for one read.
  const reading = new Map<string, Promise<ShowRead>>()

  async function readFresh (showId: string): Promise<ShowRead> {
    const row = await readShowRoom(db, showId).executeTakeFirst()
    if (row === undefined) throw showNotFound(showId)
    return remember(showId, row)
  }

  /** Keeps a read of the show for the requests of the next second. */
  function remember (showId: string, row: ShowRoomRow): ShowRead {
    const read = { row, room: toRoom(showId, row), readAt: performance.now() }
    if (read.room !== undefined) observeRoom(read.room)
    if (reads.size > 1_000) for (const [id, old] of reads) if (read.readAt - old.readAt > readReuseMs) reads.delete(id)
    reads.set(showId, read)
    return read
  }

  /** The show and its room as of now: a recent read, moved on to now, or a new one. */
  async function current (showId: string): Promise<{ row: ShowRoomRow, room: Room | undefined, now: number }> {
    if (!isUuid(showId)) throw showNotFound(showId)
    let read = reads.get(showId)
    const age = read === undefined ? Infinity : performance.now() - read.readAt
    const settles = read === undefined ? 0 : read.row.opens_at.getTime() + placementDelayMs
    if (read === undefined || age > readReuseMs || (read.row.now.getTime() < settles && read.row.now.getTime() + age >= settles)) {
      let pending = reading.get(showId)
      if (pending === undefined) {
        pending = readFresh(showId).finally(() => reading.delete(showId))
        reading.set(showId, pending)
      }
      read = await pending
    }
    const now = read.row.now.getTime() + (performance.now() - read.readAt)
    return { row: read.row, room: read.room === undefined ? undefined : { ...read.room, now }, now }
  }

  function observeRoom (room: Room): void {
    const admitted = Math.min(room.joined, Math.floor(admittedBy(room, room.now)))
    const rate = room.settings.at(-1)?.admitPerMinute ?? null
    observer.roomRead?.(room.showId, { waiting: room.joined - admitted, admitted, admitPerMinute: rate })
  }

  /** What a ticket says now. `room.now` is when the answer is for. */
  function view (room: Room, ticket: string, seq: number, joinedAt: number): QueueTicket {
    const waiting = { ticket, show_id: room.showId, status: 'waiting', admission_token: null, admission_expires_at: null } as const
    const place = placeOf(room, seq, placementDelayMs)
    if (place === undefined) return { ...waiting, position: null, ahead: null, estimated_admission_at: null }
    const at = admissionTime(room, place)
    if (at !== undefined && at <= room.now) {
      const admittedAt = Math.max(at, joinedAt)
      const expiresAt = Math.ceil(admittedAt + settings.admissionSeconds * 1000)
      return {
        ticket,
        show_id: room.showId,
        status: 'admitted',
        position: 0,
        ahead: 0,
        estimated_admission_at: new Date(admittedAt).toISOString(),
        admission_token: signer.sign({ kind: 'admission', showId: room.showId, seq, expiresAt }),
        admission_expires_at: new Date(expiresAt).toISOString()
      }
    }
    const ahead = Math.max(0, place - Math.floor(admittedBy(room, room.now)))
    return { ...waiting, position: ahead + 1, ahead, estimated_admission_at: at === undefined ? null : new Date(at).toISOString() }
  }

  /** Why a show takes no joiners: unknown, without a room, or started. */
  async function whyNoJoin (showId: string): Promise<EngineError> {
    const { row } = await readFresh(showId)
    if (row.shuffle_seed === null) return new EngineError('no_waiting_room', 'This show has no waiting room; hold seats directly')
    return new EngineError('sales_closed', `The show started at ${row.start_time.toISOString()}; sales are closed`)
  }

  // One update of the room's counter for every buyer of a show who joins while the last one runs.
  const joins = createBatchQueue<null, { seq: number, joinedAt: number, read: ShowRead }>(async (showId, buyers) => {
    const joined = await joinRoom(db, showId, buyers.length).executeTakeFirst()
    if (joined === undefined) throw await whyNoJoin(showId)
    const read = remember(showId, joined)
    const first = Number(joined.joined) - buyers.length + 1
    return buyers.map((_, i) => ({ seq: first + i, joinedAt: joined.now.getTime(), read }))
  }, { batchesPerKey: 1, itemsToStartAnother: Infinity, itemsPerBatch: 1_000 })

  return {
    /** Joins the show's queue: a signed ticket and its place. */
    async join (showId: string): Promise<QueueTicket> {
      if (!isUuid(showId)) throw showNotFound(showId)
      const { seq, joinedAt, read } = await joins.submit(showId, null)
      const room = read.room!
      const ticket = signer.sign({ kind: 'ticket', showId, seq, joinedAt, expiresAt: room.startsAt })
      return view(room, ticket, seq, joinedAt)
    },

    /**
     * What a ticket says now, and what it was signed with (to follow it); invalid_ticket when it
     * is not one of this show's.
     */
    async ticket (showId: string, ticket: string): Promise<{ answer: QueueTicket, claims: { seq: number, joinedAt: number } }> {
      const { room, now } = await current(showId)
      const verified = signer.verify(ticket, 'ticket', showId, now)
      if (room === undefined || !verified.ok) throw new EngineError('invalid_ticket', 'This is not a ticket of this show\'s queue')
      const { seq, joinedAt } = verified.claims
      return { answer: view(room, ticket, seq, joinedAt), claims: { seq, joinedAt } }
    },

    /**
     * Checks a hold's right to go ahead: sales must be open, and while the room is on the hold
     * needs a valid admission token of this show. Returns the admission's sequence number to
     * claim with the hold, or undefined when none is needed. A started show is left to the hold,
     * which refuses it.
     */
    async admit (showId: string, token: string | undefined): Promise<number | undefined> {
      const { row, room, now } = await current(showId)
      if (now >= row.start_time.getTime()) return undefined
      if (row.sales_open_at !== null && now < row.sales_open_at.getTime()) {
        throw new EngineError('sales_not_open', `Sales open at ${row.sales_open_at.toISOString()}`, { sales_open_at: row.sales_open_at.toISOString() })
      }
      if (room === undefined || room.settings.at(-1)?.admitPerMinute === null) return undefined
      const verified = token === undefined ? { ok: false as const, reason: 'missing' as const } : signer.verify(token, 'admission', showId, now)
      if (verified.ok) return verified.claims.seq
      observer.admissionRefused?.(verified.reason)
      throw new EngineError('admission_required', {
        missing: 'This show\'s waiting room is on: send the Admission-Token the queue gave you',
        forged: 'The Admission-Token is not one this service issued',
        other_show: 'The Admission-Token is for another show',
        expired: 'The Admission-Token has expired; join the queue again'
      }[verified.reason])
    },

    /**
     * Sets the admission rate from now on (null: switched off), making the show a room when it
     * had none. The room's row is locked first, so the clock read after it is later than every
     * setting before, and the count admitted so far is carried into the new setting. Switching
     * off a show without a room changes nothing.
     */
    async setRate (showId: string, admitPerMinute: number | null): Promise<void> {
      if (!isUuid(showId)) throw showNotFound(showId)
      await db.transaction().execute(async (trx) => {
        if (admitPerMinute !== null) await createRoom(trx, showId).execute()
        await lockRoom(trx, showId).execute()
        const row = await readShowRoom(trx, showId).executeTakeFirst()
        if (row === undefined) throw showNotFound(showId)
        const room = toRoom(showId, row)
        if (room === undefined) return
        const admitted = admittedBy(room, room.now)
        await addRateSetting(trx, showId, {
          since: row.now,
          admitPerMinute,
          // Switched off, everyone who joined so far was admitted.
          admittedBefore: Number.isFinite(admitted) ? admitted : room.joined
        }).execute()
      })
      reads.delete(showId)
    },

    /** The current room and what a ticket says in it, for streams that watch many tickets of one show. */
    current,
    view
  }
}

export type WaitingRoom = ReturnType<typeof createWaitingRoom>
