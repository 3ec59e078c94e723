import { setTimeout as sleep } from 'node:timers/promises'
import { adminToken } from './settings.ts'

/** HTTP helpers for setting up and checking (not for load: that is load.ts's). */

export interface Outgoing { method: 'GET' | 'POST', path: string, body?: unknown, headers?: Record<string, string> }

export const holdOf = (showId: string, quantity: number): Outgoing => ({ method: 'POST', path: '/bookings', body: { show_id: showId, quantity } })

export const togetherOf = (showId: string, quantity: number): Outgoing => ({ method: 'POST', path: '/bookings', body: { show_id: showId, quantity, together: true } })

interface Answered<T> { status: number, json: T, retryAfterSeconds: number }

/** Sets a show's waiting room (PATCH /admin/shows/{id}/waiting-room). */
export async function setWaitingRoom (base: string, showId: string, body: { admit_per_minute: number } | { enabled: false }): Promise<void> {
  const { status, json } = await call<unknown>(base, 'PATCH', `/admin/shows/${showId}/waiting-room`, body)
  if (status !== 200) throw new Error(`setting the waiting room of ${showId} answered ${status}: ${JSON.stringify(json)}`)
}

async function once<T> (base: string, method: string, urlPath: string, body?: unknown): Promise<Answered<T>> {
  const headers: Record<string, string> = { authorization: `Bearer ${adminToken}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(`${base}${urlPath}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: response.status, json: await response.json() as T, retryAfterSeconds: Number(response.headers.get('retry-after') ?? 1) || 1 }
}

// A server that has just carried load may shed the next request (503 overloaded, with
// Retry-After) until its event loop catches up; a setup call then waits and tries again, as a
// client would, for this long at most.
const setupRetrySeconds = 30

/** A setup or checking call: one that is not measured, so it retries a 503 after Retry-After. */
async function call<T> (base: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number, json: T }> {
  const deadline = Date.now() + setupRetrySeconds * 1000
  for (;;) {
    const answer = await once<T>(base, method, urlPath, body)
    if (answer.status !== 503 || Date.now() + answer.retryAfterSeconds * 1000 > deadline) return answer
    await sleep(answer.retryAfterSeconds * 1000)
  }
}

/** A row of a show: its label and its number of seats. */
export interface SeatRow { label: string, seats: number }

const showOf = (name: string, seats: number | SeatRow[]) =>
  ({ name, start_time: new Date(Date.now() + 86_400_000).toISOString(), ...(typeof seats === 'number' ? { total_seats: seats } : { rows: seats }) })

/** Asks once for a show that starts tomorrow; the caller decides what an answer other than 201 means. */
export async function postShow (base: string, name: string, totalSeats: number): Promise<{ status: number, json: { id?: string } }> {
  return await once<{ id?: string }>(base, 'POST', '/admin/shows', showOf(name, totalSeats))
}

/**
 * A show that starts tomorrow, of `seats` numbered seats or of these rows (with `extra` members),
 * created however many 503s it takes within the retry limit.
 */
export async function createShow (base: string, name: string, seats: number | SeatRow[], extra: Record<string, unknown> = {}): Promise<string> {
  const { status, json } = await call<{ id?: string }>(base, 'POST', '/admin/shows', { ...showOf(name, seats), ...extra })
  if (status !== 201 || json.id === undefined) throw new Error(`creating show "${name}" answered ${status}: ${JSON.stringify(json)}`)
  return json.id
}

export interface Availability { total: number, available: number, held: number, booked: number }

export async function availability (base: string, showId: string): Promise<Availability> {
  const { status, json } = await call<{ availability: Availability }>(base, 'GET', `/shows/${showId}/availability`)
  if (status !== 200) throw new Error(`availability of ${showId} answered ${status}: ${JSON.stringify(json)}`)
  return json.availability
}

/** The server's count of hold statements and of the holds they placed (booking_hold_statement_holds). */
export async function holdStatements (base: string): Promise<{ count: number, holds: number }> {
  const text = await (await fetch(`${base}/metrics`)).text()
  const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0)
  return { count: value('booking_hold_statement_holds_count'), holds: value('booking_hold_statement_holds_sum') }
}
