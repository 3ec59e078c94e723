/**
 * A thin typed client of the booking API for frontends and tests: openapi-fetch over the types that
 * `make client` generates from openapi.yaml into ./openapi.ts. Nothing here is written by hand but
 * the bearer token and the reader of a booking's event stream, which openapi-fetch cannot read.
 */
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './openapi.ts'

export type { components, operations, paths } from './openapi.ts'
export type Schemas = components['schemas']
export type Booking = Schemas['Booking']
export type Show = Schemas['Show']
export type Problem = Schemas['Problem']

export interface BookingClientOptions {
  /** Sent as `Authorization: Bearer <token>`; needed for the /admin operations only. */
  adminToken?: string
  fetch?: typeof globalThis.fetch
}

export function createBookingClient (baseUrl: string, options: BookingClientOptions = {}) {
  const client = createClient<paths>({ baseUrl, ...(options.fetch !== undefined && { fetch: options.fetch }) })
  const { adminToken } = options
  if (adminToken !== undefined) {
    const bearer: Middleware = {
      onRequest ({ request }) {
        request.headers.set('authorization', `Bearer ${adminToken}`)
        return request
      }
    }
    client.use(bearer)
  }
  return client
}

export type BookingClient = ReturnType<typeof createBookingClient>

/** A booking stream the server refused (404 booking_not_found, 503 ...), with its problem document. */
export class BookingStreamError extends Error {
  constructor (readonly problem: Problem) {
    super(`${problem.code}: ${problem.detail}`)
    this.name = 'BookingStreamError'
  }
}

/** The `data` of each event named `name` of a text/event-stream body, as it arrives. */
async function * eventData (body: ReadableStream<Uint8Array>, name: string): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true })
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const lines = buffer.slice(0, end).split('\n')
      buffer = buffer.slice(end + 2)
      if (!lines.includes(`event: ${name}`)) continue
      yield lines.filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n')
    }
  }
}

/**
 * The booking at once, then each time its status or hold end changes, as GET /bookings/{id}/events
 * sends it; done after a final status (CONFIRMED, CANCELLED or EXPIRED). A stream the server ended
 * early (it shut down) is opened again. Throws BookingStreamError when the server refuses the
 * stream, and fetch's error when the connection fails.
 */
export async function * bookingEvents (baseUrl: string, id: string, options: { fetch?: typeof globalThis.fetch, signal?: AbortSignal } = {}): AsyncGenerator<Booking, void> {
  const fetch = options.fetch ?? globalThis.fetch
  for (;;) {
    const response = await fetch(`${baseUrl}/bookings/${encodeURIComponent(id)}/events`, {
      headers: { accept: 'text/event-stream' },
      ...(options.signal !== undefined && { signal: options.signal })
    })
    if (response.status !== 200 || response.body === null) throw new BookingStreamError(await response.json() as Problem)
    for await (const data of eventData(response.body, 'booking')) {
      const booking = JSON.parse(data) as Booking
      yield booking
      if (booking.status !== 'PENDING') return
    }
  }
}
