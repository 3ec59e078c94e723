import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { isDeepStrictEqual } from 'node:util'
import { sql } from 'kysely'
import type { Test } from 'tap'
import type { Availability, Booking, BookingStatus, ProblemCode, Show } from '../../api/index.ts'
import type { Database } from '../../src/db/database.ts'
import type { BookingRow } from '../../src/engine/bookings.ts'
import { invariantViolations, seatCounts } from './invariants.ts'

/**
 * A booking storm against a real server process, with a ledger of what the server acknowledged,
 * and the checks that what it acknowledged is still in the database, whole, after the process
 * died or stopped. Shared by the crash and the graceful-shutdown tests.
 */

/**
 * `retry`: a hold sent again with its Idempotency-Key and body, after a restart. `other`: any
 * other POST whose outcome is worth a record; the ledger books nothing from it.
 */
export type Operation = 'hold' | 'confirm' | 'cancel' | 'retry' | 'other'

export interface SendOptions {
  body?: unknown
  idempotencyKey?: string
  headers?: Record<string, string>
  /** `requestTimeoutMs` when absent. */
  timeoutMs?: number
}

export type Outcome =
  | { kind: 'answer', status: number, connectionClose: boolean, body: unknown }
  /** No whole answer: refused, reset, closed, or TIMEOUT after `requestTimeoutMs`. */
  | { kind: 'failed', code: string, message: string }

export interface RequestRecord {
  /** Sent as `?req=<n>`, so that the server's request log names the request. */
  n: number
  op: Operation
  path: string
  body?: unknown
  idempotencyKey?: string
  /** performance.now() when it was sent and when it ended. */
  startedAt: number
  endedAt: number
  outcome: Outcome
}

interface Acknowledged {
  /** The latest answer the server gave about this booking. */
  booking: Booking
  /** Statuses it may have now: the acknowledged one, and those of requests left unanswered since. */
  may: Set<BookingStatus>
  /** The hold request and its first answer, which a retry with its key must get again. */
  hold: RequestRecord
  first: Booking
  retried: boolean
}

export const requestTimeoutMs = 5_000

/**
 * Server settings for a storm. Holds outlast the test, so nothing lapses; the sweep runs every
 * second, so that a kill or a shutdown can land in one. Per-client rate limits and load shedding
 * are off: the storm comes from one address on 2 shared cores, and would otherwise be answered
 * mostly 429 and 503, while these tests are about the requests the server does take on. One
 * process, no cluster: the signals are meant for the process that serves.
 */
export function stormServerEnv (adminToken: string): Record<string, string> {
  return {
    ADMIN_TOKEN: adminToken,
    WORKERS: '1',
    HOLD_WINDOW_SECONDS: '600',
    EXPIRY_JOB_INTERVAL_SECONDS: '1',
    RATE_LIMIT_BOOKINGS_PER_MINUTE: '0',
    RATE_LIMIT_ADMIN_PER_MINUTE: '0',
    OVERLOAD_MAX_QUEUE: '0',
    OVERLOAD_MAX_HOLD_WAIT_MS: '0',
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0'
  }
}

function failure (error: unknown): { code: string, message: string } {
  const name = (error as { name?: string }).name
  if (name === 'TimeoutError' || name === 'AbortError') return { code: 'TIMEOUT', message: String(error) }
  const cause = (error as { cause?: { code?: string, message?: string } }).cause
  const code = cause?.code ?? (error as { code?: string }).code ?? name ?? 'UNKNOWN'
  return { code, message: `${String(error)}${cause?.message === undefined ? '' : `: ${cause.message}`}` }
}

function parseBody (text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text) as unknown
  } catch {
    return text
  }
}

/** Refused connections: the server was not listening, so the request cannot have done anything. */
export const refused = (outcome: Outcome): boolean => outcome.kind === 'failed' && outcome.code === 'ECONNREFUSED'

const answered = (record: RequestRecord, status: number): boolean =>
  record.outcome.kind === 'answer' && record.outcome.status === status

const sameAnswer = (a: RequestRecord, b: RequestRecord): boolean => a.outcome.kind === 'answer' && b.outcome.kind === 'answer' &&
  a.outcome.status === b.outcome.status && isDeepStrictEqual(a.outcome.body, b.outcome.body)

/** What a retried hold may be refused with: the seats went meanwhile, or the first is still running. */
const retryRefusals: ProblemCode[] = ['idempotency_key_in_use', 'insufficient_seats', 'seats_unavailable']

const problemCode = (record: RequestRecord): ProblemCode | undefined =>
  record.outcome.kind === 'answer' ? (record.outcome.body as { code?: ProblemCode } | undefined)?.code : undefined

export class Ledger {
  readonly requests: RequestRecord[] = []
  readonly acknowledged = new Map<string, Acknowledged>()
  /** Unanswered holds with a key that were retried: the retry's answer says what became of them. */
  private readonly settled = new Set<number>()
  private sent = 0

  /** Sends one request (keep-alive, as fetch does) and books its outcome. */
  async send (url: string, op: Operation, path: string, options: SendOptions = {}): Promise<RequestRecord> {
    const { body, idempotencyKey } = options
    const n = ++this.sent
    const startedAt = performance.now()
    const headers: Record<string, string> = { ...options.headers }
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey
    let outcome: Outcome
    try {
      const response = await fetch(`${url}${path}?req=${n}`, {
        method: 'POST',
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs ?? requestTimeoutMs)
      })
      // An answer counts only once its body is in: a status line alone acknowledges nothing.
      const text = await response.text()
      outcome = {
        kind: 'answer',
        status: response.status,
        connectionClose: response.headers.get('connection')?.toLowerCase() === 'close',
        body: parseBody(text)
      }
    } catch (error) {
      outcome = { kind: 'failed', ...failure(error) }
    }
    const record: RequestRecord = { n, op, path, body, idempotencyKey, startedAt, endedAt: performance.now(), outcome }
    this.requests.push(record)
    this.note(record)
    return record
  }

  private note (record: RequestRecord): void {
    const { op, outcome } = record
    if (op === 'other') return
    if (op === 'hold' || op === 'retry') {
      if (outcome.kind !== 'answer' || outcome.status !== 201) return
      const booking = outcome.body as Booking
      // A retry's booking is new to the ledger only when it settles a hold left unanswered.
      if (!this.acknowledged.has(booking.id)) {
        this.acknowledged.set(booking.id, { booking, may: new Set(['PENDING']), hold: record, first: booking, retried: op === 'retry' })
      }
      return
    }
    const entry = this.acknowledged.get(record.path.split('/')[2] ?? '')
    if (entry === undefined) throw new Error(`${record.path}: not a booking this ledger acknowledged`)
    const status: BookingStatus = op === 'confirm' ? 'CONFIRMED' : 'CANCELLED'
    if (outcome.kind === 'answer' && outcome.status === 200) {
      entry.booking = outcome.body as Booking
      entry.may = new Set([status])
    } else if (outcome.kind === 'failed') {
      entry.may.add(status)
    }
  }

  /**
   * Holds whose answer never came, and that no retry with a key has settled since: each may or
   * may not have made a booking nobody knows of.
   */
  unansweredHolds (): RequestRecord[] {
    return this.requests.filter((record) => record.op === 'hold' && record.outcome.kind === 'failed' && !this.settled.has(record.n))
  }

  /**
   * After a restart, sends again, with its key and body, every hold that had an Idempotency-Key
   * and has not been retried yet. An acknowledged one must answer its first answer again; an
   * unanswered one either happened (its booking, whole, now acknowledged), or did not and is
   * refused or held anew, or is still claimed by the dead request (idempotency_key_in_use).
   * Returns what went wrong.
   */
  async retryKeyedHolds (url: string): Promise<string[]> {
    const problems: string[] = []
    for (const entry of [...this.acknowledged.values()].filter((entry) => entry.hold.idempotencyKey !== undefined && !entry.retried)) {
      entry.retried = true
      const retry = await this.send(url, 'retry', '/bookings', { body: entry.hold.body, idempotencyKey: entry.hold.idempotencyKey })
      if (!answered(retry, 201) || retry.outcome.kind !== 'answer' || !isDeepStrictEqual(retry.outcome.body, entry.first)) {
        problems.push(`retrying acknowledged hold #${entry.hold.n} (${entry.first.id}) answered ${describe(retry)}`)
      }
    }
    for (const hold of this.unansweredHolds().filter((record) => record.idempotencyKey !== undefined)) {
      this.settled.add(hold.n)
      const retry = await this.send(url, 'retry', '/bookings', { body: hold.body, idempotencyKey: hold.idempotencyKey })
      const code = problemCode(retry)
      if (answered(retry, 201)) {
        const id = (retry.outcome.kind === 'answer' ? retry.outcome.body as Booking : undefined)?.id ?? ''
        if (this.acknowledged.get(id)?.hold !== retry) problems.push(`retrying unanswered hold #${hold.n} answered a booking another request was given: ${describe(retry)}`)
        const again = await this.send(url, 'retry', '/bookings', { body: hold.body, idempotencyKey: hold.idempotencyKey })
        if (!sameAnswer(retry, again)) problems.push(`retrying unanswered hold #${hold.n} twice answered ${describe(retry)}, then ${describe(again)}`)
      } else if (!(answered(retry, 409) && code !== undefined && retryRefusals.includes(code))) {
        problems.push(`retrying unanswered hold #${hold.n} answered ${describe(retry)}`)
      }
    }
    return problems
  }

  /** How many requests of `op` the server answered with `status`. */
  count (op: Operation, status: number): number {
    return this.requests.filter((record) => record.op === op && answered(record, status)).length
  }
}

export const describe = (record: RequestRecord): string => `#${record.n} ${record.op} ${record.path}: ` + (record.outcome.kind === 'answer'
  ? `${record.outcome.status}${record.outcome.connectionClose ? ' (connection: close)' : ''} ${JSON.stringify(record.outcome.body)}`
  : `${record.outcome.code} ${record.outcome.message}`)

const pick = (n: number): number => Math.floor(Math.random() * n)

/** Mostly "any n seats", some exact labels (`1`..`totalSeats`), which may be taken already. */
function holdBody (showId: string, totalSeats: number): Record<string, unknown> {
  if (Math.random() < 0.75) return { show_id: showId, quantity: 1 + pick(4) }
  const labels = new Set<string>()
  const wanted = 1 + pick(3)
  while (labels.size < wanted) labels.add(String(1 + pick(totalSeats)))
  return { show_id: showId, seats: [...labels] }
}

export interface StormOptions {
  url: string
  showId: string
  totalSeats: number
  ledger: Ledger
  /** Concurrent client loops, each one request at a time. */
  loops: number
  /** Once true, loops send nothing more. */
  stopped: () => boolean
}

/**
 * One client: hold (a third of the time with an Idempotency-Key, which a retry after the restart
 * uses), then confirm about half of its holds and cancel some, confirmed or not. It ends at the
 * first request left unanswered: the server is going or gone, and every further request would
 * only be refused.
 */
async function clientLoop ({ url, showId, totalSeats, ledger, stopped }: StormOptions): Promise<void> {
  while (!stopped()) {
    const key = Math.random() < 0.3 ? randomUUID() : undefined
    const hold = await ledger.send(url, 'hold', '/bookings', { body: holdBody(showId, totalSeats), idempotencyKey: key })
    if (hold.outcome.kind === 'failed') return
    if (!answered(hold, 201) || stopped()) continue
    const id = (hold.outcome.body as Booking).id
    const roll = Math.random()
    let cancel = roll >= 0.55 && roll < 0.7
    if (roll < 0.55) {
      const confirm = await ledger.send(url, 'confirm', `/bookings/${id}/confirm`)
      if (confirm.outcome.kind === 'failed') return
      cancel = answered(confirm, 200) && Math.random() < 0.15
    }
    if (cancel && !stopped()) {
      const cancelled = await ledger.send(url, 'cancel', `/bookings/${id}/cancel`)
      if (cancelled.outcome.kind === 'failed') return
    }
  }
}

export async function runStorm (options: StormOptions): Promise<void> {
  await Promise.all(Array.from({ length: options.loops }, async () => await clientLoop(options)))
}

export async function createShow (url: string, adminToken: string, totalSeats: number, extra: Record<string, unknown> = {}): Promise<Show> {
  const response = await fetch(`${url}/admin/shows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Storm', start_time: new Date(Date.now() + 24 * 3600_000).toISOString(), total_seats: totalSeats, ...extra })
  })
  if (response.status !== 201) throw new Error(`creating the show answered ${response.status}: ${await response.text()}`)
  return await response.json() as Show
}

async function getJson<T> (url: string, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(requestTimeoutMs) })
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`)
  return await response.json() as T
}

/** Every booking of the show, through the admin API. */
async function apiBookings (url: string, showId: string, adminToken: string): Promise<Map<string, Booking>> {
  const bookings = new Map<string, Booking>()
  let cursor: string | null = null
  do {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`
    const page: { items: Booking[], next_cursor: string | null } =
      await getJson(`${url}/admin/shows/${showId}/bookings?limit=100${query}`, { authorization: `Bearer ${adminToken}` })
    for (const booking of page.items) bookings.set(booking.id, booking)
    cursor = page.next_cursor
  } while (cursor !== null)
  return bookings
}

/** A booking as both the API and the tables have it. */
type Stored = Omit<Booking, 'show_id'>

type StoredRow = Omit<BookingRow, 'show_id'>

/** Every booking of the show, straight from the tables, with its seat list. */
async function storedBookings (db: Database, showId: string): Promise<Map<string, Stored>> {
  const { rows } = await sql<StoredRow>`
    SELECT b.id, b.status, b.quantity, b.hold_expires_at, b.created_at, b.confirmed_at, b.cancelled_at,
           coalesce(array_agg(s.label ORDER BY s.seat_no) FILTER (WHERE s.label IS NOT NULL), '{}') AS seats
    FROM bookings b
    LEFT JOIN booking_seats bs ON bs.booking_id = b.id AND bs.show_id = b.show_id
    LEFT JOIN seats s ON s.show_id = bs.show_id AND s.seat_no = bs.seat_no
    WHERE b.show_id = ${showId}
    GROUP BY b.id, b.show_id`.execute(db)
  return new Map(rows.map((row) => [row.id, {
    ...row,
    hold_expires_at: row.hold_expires_at.toISOString(),
    created_at: row.created_at.toISOString(),
    confirmed_at: row.confirmed_at?.toISOString() ?? null,
    cancelled_at: row.cancelled_at?.toISOString() ?? null
  }]))
}

/** How `found` (from the API or the tables) differs from what the server acknowledged. */
function differences (booking: Booking, may: Set<BookingStatus>, found: Stored, source: string): string[] {
  const problems: string[] = []
  const id = `${source}: booking ${booking.id}`
  if (!may.has(found.status)) problems.push(`${id} is ${found.status}, acknowledged ${booking.status}, may be ${[...may].join('/')}`)
  if (found.quantity !== booking.quantity) problems.push(`${id} has quantity ${found.quantity}, acknowledged ${booking.quantity}`)
  if (found.seats.join(',') !== booking.seats.join(',')) problems.push(`${id} has seats [${found.seats.join(',')}], acknowledged [${booking.seats.join(',')}]`)
  for (const field of ['hold_expires_at', 'created_at'] as const) {
    if (found[field] !== booking[field]) problems.push(`${id} has ${field} ${found[field]}, acknowledged ${booking[field]}`)
  }
  // When a status was reached is known only when that status was acknowledged.
  if (found.status === booking.status) {
    for (const field of ['confirmed_at', 'cancelled_at'] as const) {
      if (found[field] !== booking[field]) problems.push(`${id} has ${field} ${found[field] ?? 'null'}, acknowledged ${booking[field] ?? 'null'}`)
    }
  }
  return problems
}

/** Bookings whose seat list, or whose seats, show a write done halfway; empty when none. */
async function halfDone (db: Database, showId: string): Promise<string[]> {
  const { rows } = await sql<{ problem: string }>`
    SELECT format('booking %s (%s) lists %s seats for a quantity of %s', b.id, b.status, count(bs.seat_no), b.quantity) AS problem
    FROM bookings b LEFT JOIN booking_seats bs ON bs.booking_id = b.id AND bs.show_id = b.show_id
    WHERE b.show_id = ${showId}
    GROUP BY b.id, b.status, b.quantity HAVING count(bs.seat_no) <> b.quantity
    UNION ALL
    SELECT format('seat %s points at booking %s, which %s', s.label, s.booking_id,
                  CASE WHEN b.id IS NULL THEN 'does not exist' ELSE 'does not list it' END)
    FROM seats s
    LEFT JOIN bookings b ON b.id = s.booking_id AND b.show_id = s.show_id
    LEFT JOIN booking_seats bs ON bs.booking_id = s.booking_id AND bs.show_id = s.show_id AND bs.seat_no = s.seat_no
    WHERE s.show_id = ${showId} AND s.booking_id IS NOT NULL AND (b.id IS NULL OR bs.booking_id IS NULL)
    UNION ALL
    -- A live hold holds all its seats until its end, a confirmed booking has them booked, and a
    -- cancelled one has given every one back.
    SELECT format('seat %s of %s booking %s is %s', s.label, b.status, b.id,
                  CASE WHEN s.booking_id IS NULL THEN 'free' WHEN s.booking_id <> b.id THEN 'another booking''s'
                       WHEN s.hold_expires_at IS NULL THEN 'booked' ELSE 'held until ' || s.hold_expires_at END)
    FROM bookings b
    JOIN booking_seats bs ON bs.booking_id = b.id AND bs.show_id = b.show_id
    JOIN seats s ON s.show_id = bs.show_id AND s.seat_no = bs.seat_no
    WHERE b.show_id = ${showId} AND CASE
      WHEN b.status = 'PENDING' AND b.hold_expires_at > now() THEN s.booking_id IS DISTINCT FROM b.id OR s.hold_expires_at IS DISTINCT FROM b.hold_expires_at
      WHEN b.status = 'CONFIRMED' THEN s.booking_id IS DISTINCT FROM b.id OR s.hold_expires_at IS NOT NULL
      WHEN b.status = 'CANCELLED' THEN s.booking_id IS NOT DISTINCT FROM b.id
      ELSE false END`.execute(db)
  return rows.map((row) => row.problem)
}

export interface CheckOptions {
  /** A server restarted on the database. */
  url: string
  db: Database
  showId: string
  adminToken: string
  ledger: Ledger
  /**
   * Every request the server began was answered, so the database holds exactly what it
   * acknowledged: no booking beyond, and each in its acknowledged status.
   */
  exact: boolean
}

const listed = (problems: string[]): string[] => problems.length <= 20 ? problems : [...problems.slice(0, 20), `... and ${problems.length - 20} more`]

/** Acknowledged bookings as the restarted server and the tables have them. */
async function checkBookings (t: Test, options: CheckOptions): Promise<void> {
  const { ledger, exact } = options
  const [api, stored] = await Promise.all([
    apiBookings(options.url, options.showId, options.adminToken),
    storedBookings(options.db, options.showId)
  ])
  const problems: string[] = []
  for (const [id, { booking, may }] of ledger.acknowledged) {
    const allowed = exact ? new Set([booking.status]) : may
    const fromApi = api.get(id)
    const fromTables = stored.get(id)
    if (fromApi === undefined) problems.push(`API: acknowledged booking ${id} (${booking.status}) is gone`)
    else problems.push(...differences(booking, allowed, fromApi, 'API'))
    if (fromTables === undefined) problems.push(`tables: acknowledged booking ${id} (${booking.status}) is gone`)
    else problems.push(...differences(booking, allowed, fromTables, 'tables'))
  }
  t.same(listed(problems), [], `all ${ledger.acknowledged.size} acknowledged bookings are there, with the same seats and status`)

  // A booking nobody was told about can only come from a hold whose answer never came, and only
  // as it was placed: its client never knew its id to confirm or cancel it. A hold with a key is
  // not among these once retried: its retry found its booking, if it had one.
  const unknown = [...stored.values()].filter((booking) => !ledger.acknowledged.has(booking.id))
  const unanswered = ledger.unansweredHolds().length
  if (exact) {
    t.same(unknown.map((booking) => booking.id), [], 'no booking beyond those acknowledged')
  } else {
    t.ok(unknown.length <= unanswered, `${unknown.length} unacknowledged bookings, at most one per unanswered hold (${unanswered})`)
    t.same(unknown.filter((booking) => booking.status !== 'PENDING').map((booking) => `${booking.id} ${booking.status}`), [],
      'unacknowledged bookings are plain holds')
  }
  t.same([...api.keys()].sort(), [...stored.keys()].sort(), 'the API lists exactly the bookings in the tables')
}

/** Seats and counts agree with the bookings, through the API and in the tables. */
async function checkSeats (t: Test, { url, db, showId }: CheckOptions): Promise<void> {
  t.same(listed(await invariantViolations(db, showId)), [], 'no invariant is violated')
  t.same(listed(await halfDone(db, showId)), [], 'nothing is half-done: bookings list quantity seats, seats point at bookings that list them')

  const { availability } = await getJson<{ availability: Availability }>(`${url}/shows/${showId}/availability`)
  const { available, held, booked, total } = availability
  t.equal(available + held + booked, total, `availability adds up: ${available} + ${held} + ${booked} = ${total}`)
  const counted = await seatCounts(db, showId)
  t.same({ available, held, booked, total }, { available: counted.free, held: counted.held, booked: counted.booked, total: counted.total },
    'availability matches a count of the seats')
  const { rows: [byStatus] } = await sql<{ held: number, booked: number }>`
    SELECT coalesce(sum(quantity) FILTER (WHERE status = 'PENDING' AND hold_expires_at > now()), 0)::int AS held,
           coalesce(sum(quantity) FILTER (WHERE status = 'CONFIRMED'), 0)::int AS booked
    FROM bookings WHERE show_id = ${showId}`.execute(db)
  t.same({ held, booked }, byStatus, 'held and booked seats are those of the live holds and confirmed bookings')

  const { items } = await getJson<{ items: Array<{ status: string }> }>(`${url}/shows/${showId}/seats`)
  const seatMap = { AVAILABLE: 0, HELD: 0, BOOKED: 0 }
  for (const seat of items) seatMap[seat.status as keyof typeof seatMap]++
  t.same(seatMap, { AVAILABLE: available, HELD: held, BOOKED: booked }, 'the seat map agrees with availability')
}

/**
 * Checks, against a server restarted on the same database and the tables themselves, that every
 * booking the server acknowledged is there as acknowledged, and that nothing is half-written.
 */
export async function checkAcknowledged (t: Test, options: CheckOptions): Promise<void> {
  t.same(listed(await options.ledger.retryKeyedHolds(options.url)), [],
    'holds retried with their Idempotency-Key get their first answer again, or settle what became of an unanswered one')
  await checkBookings(t, options)
  await checkSeats(t, options)
}
