/**
 * A thin typed client of the booking API for frontends and tests: openapi-fetch over the types that
 * `make client` generates from openapi.yaml into ./openapi.ts. Nothing here is written by hand but
 * the bearer token.
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
