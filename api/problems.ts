import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox'
import { maxProblemErrors, maxSeatsPerBooking, maxSeatsPerShow } from './common.ts'

/**
 * Every problem `code` the API answers: its status, a title and what it means for a client. The
 * code enum, the Problem schemas of the document, the titles in answers and the pages at
 * /problems/{code} all come from here.
 */
export const problemCatalogue = {
  validation_failed: { status: 400, title: 'The request is not valid', description: 'A body, query or header value does not match the document. `errors` lists each offending value as a JSON Pointer (`/body/quantity`) and a message. Fix the request; retrying it unchanged fails again.' },
  invalid_ticket: { status: 400, title: 'The queue ticket is not valid', description: 'The ticket was not issued by this service for this show, or has been altered. Join the queue again with POST /shows/{id}/queue.' },
  bad_request: { status: 400, title: 'The request cannot be served', description: 'The request is not one this API can read at all: not valid HTTP, an unknown method, or an incomplete CORS preflight.' },
  unauthorized: { status: 401, title: 'Missing or wrong admin token', description: 'Admin routes need `Authorization: Bearer <ADMIN_TOKEN>`. The answer carries `WWW-Authenticate: Bearer`.' },
  admission_required: { status: 403, title: 'An admission token is required', description: 'The show\'s waiting room is on: a hold needs `Admission-Token` with a token the queue gave this buyer for this show, before it expired. Join the queue with POST /shows/{id}/queue and hold once admitted.' },
  show_not_found: { status: 404, title: 'No such show', description: 'No show has this id (a malformed id is simply not found).' },
  booking_not_found: { status: 404, title: 'No such booking', description: 'No booking has this id (a malformed id is simply not found).' },
  route_not_found: { status: 404, title: 'No such route', description: 'No route has this path. The document at /docs/json lists every route.' },
  method_not_allowed: { status: 405, title: 'Method not allowed', description: 'The path exists, but not with this method. The `Allow` header lists the methods it takes.' },
  request_timeout: { status: 408, title: 'The request took too long to arrive', description: 'The whole request was not received within 30 seconds. The connection is closed.' },
  insufficient_seats: { status: 409, title: 'Not enough free seats', description: 'Fewer seats are free than `quantity` asks for. `available` is the number that was free when it was decided.' },
  no_adjacent_seats: { status: 409, title: 'No block of that many adjacent free seats', description: 'No row has `quantity` adjacent free seats (consecutive numbers on a numbered show). `available` is the number of free seats and `largest_block` the longest run of adjacent free seats when it was decided; ask for fewer seats together, or for seats anywhere.' },
  seats_unavailable: { status: 409, title: 'Some of those seats are not free', description: 'A hold of named seats is all or none; `unavailable` lists the labels that are held, booked or unknown to the show.' },
  sales_closed: { status: 409, title: 'Sales for this show are closed', description: 'The show has started.' },
  sales_not_open: { status: 409, title: 'Sales for this show have not opened yet', description: 'Holds are taken from `sales_open_at` on. When the show has a waiting room, join its queue meanwhile.' },
  no_waiting_room: { status: 409, title: 'This show has no waiting room', description: 'There is no queue to join: hold seats directly with POST /bookings.' },
  admission_in_use: { status: 409, title: 'This admission already holds a booking', description: 'An admission token holds one live booking at a time. Confirm or cancel the PENDING hold made with it (or let it lapse), then hold again.' },
  hold_expired: { status: 409, title: 'The hold has expired', description: 'The hold reached `hold_expires_at` before this confirm, cancel or extension; its seats are free again.' },
  booking_cancelled: { status: 409, title: 'The booking was cancelled', description: 'A cancelled booking cannot be confirmed or extended.' },
  booking_confirmed: { status: 409, title: 'The booking is confirmed', description: 'A confirmed booking has no hold left to extend: its seats are booked.' },
  extension_limit: { status: 409, title: 'The hold cannot be extended further', description: 'The hold already ends at the latest time a hold may last (MAX_HOLD_SECONDS after it was placed), given in `max_hold_expires_at`. Confirm it before then.' },
  idempotency_key_in_use: { status: 409, title: 'A request with this Idempotency-Key is still running', description: 'Another request with this key has not answered yet. Retry after a moment to get its answer.' },
  payload_too_large: { status: 413, title: 'The request body is too large', description: 'Bodies are at most 64 KiB.' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type', description: 'Bodies are `application/json` only.' },
  idempotency_key_reused: { status: 422, title: 'Idempotency-Key reused with another request', description: 'This key came with another body within 24 hours. Use a new random key for a new request.' },
  rate_limited: { status: 429, title: 'Too many requests', description: 'This client sent more requests than RATE_LIMIT_* allow. Retry after `Retry-After` seconds.' },
  headers_too_large: { status: 431, title: 'The request headers are too large', description: 'The request line and headers together are larger than 16 KiB. The connection is closed.' },
  internal_error: { status: 500, title: 'Internal error', description: 'Something went wrong on the server; it was logged. Nothing half-done is left behind.' },
  service_unavailable: { status: 503, title: 'The service is unavailable for a moment', description: 'The database is not answering, or the server is shutting down. Retry after `Retry-After` seconds.' },
  overloaded: { status: 503, title: 'The service is overloaded', description: 'The server is shedding load. Retry after `Retry-After` seconds.' }
} as const

export type ProblemCode = keyof typeof problemCatalogue
export const problemCodes = Object.keys(problemCatalogue) as ProblemCode[]

export const ProblemError = Type.Object({
  path: Type.String({ description: 'JSON Pointer to the offending value, starting with the request part: `/body/quantity`, `/query/limit`, `/headers/idempotency-key`', examples: ['/body/quantity'] }),
  message: Type.String({ examples: ['must be >= 1'] })
}, { $id: 'ProblemError', title: 'ProblemError', additionalProperties: false })

/** The members some codes add to a problem, required where they occur. */
const problemMembers = {
  validation_failed: {
    errors: Type.Array(Type.Ref(ProblemError), { maxItems: maxProblemErrors, description: `Every invalid value (the first ${maxProblemErrors})` })
  },
  insufficient_seats: {
    available: Type.Integer({ minimum: 0, maximum: maxSeatsPerShow, description: 'The free seats when it was decided' })
  },
  no_adjacent_seats: {
    available: Type.Integer({ minimum: 0, maximum: maxSeatsPerShow, description: 'The free seats when it was decided' }),
    largest_block: Type.Integer({ minimum: 0, maximum: maxSeatsPerShow, description: 'The longest run of adjacent free seats in one row when it was decided' })
  },
  seats_unavailable: {
    unavailable: Type.Array(Type.String(), { maxItems: maxSeatsPerBooking, description: 'The asked-for labels that are not free' })
  },
  extension_limit: {
    max_hold_expires_at: Type.String({ format: 'date-time', description: 'The latest end the hold may have: when it was placed plus MAX_HOLD_SECONDS (RFC 3339, UTC)', examples: ['2026-11-25T10:15:00.000Z'] })
  },
  sales_not_open: {
    sales_open_at: Type.String({ format: 'date-time', description: 'When holds are first taken' })
  }
} satisfies Partial<Record<ProblemCode, TProperties>>

type MembersOf<C extends ProblemCode> = C extends keyof typeof problemMembers ? (typeof problemMembers)[C] : {}

/** The members of a code's problem beyond those every problem has: `{ available }` for insufficient_seats. */
export type ProblemMembers<C extends ProblemCode> = Static<TObject<MembersOf<C>>>

/** The members the examples add. */
const exampleMembers: { [C in keyof typeof problemMembers]: ProblemMembers<C> } = {
  validation_failed: { errors: [{ path: '/body/quantity', message: 'must be >= 1' }] },
  insufficient_seats: { available: 2 },
  no_adjacent_seats: { available: 7, largest_block: 3 },
  seats_unavailable: { unavailable: ['A2'] },
  extension_limit: { max_hold_expires_at: '2026-11-25T10:15:00.000Z' },
  sales_not_open: { sales_open_at: '2035-12-01T10:00:00.000Z' }
}

/** An example answer of a code, for the document. */
export function problemExample (code: ProblemCode) {
  const { status, title, description } = problemCatalogue[code]
  const members = code in exampleMembers ? exampleMembers[code as keyof typeof exampleMembers] : {}
  return { type: `/problems/${code}`, title, status, detail: description.split('. ')[0] ?? description, code, ...members }
}

/** The document's name of a code's problem: InsufficientSeatsProblem. */
const schemaName = (code: ProblemCode): string =>
  `${code.split('_').map((word) => `${word[0]?.toUpperCase() ?? ''}${word.slice(1)}`).join('')}Problem`

function problemSchema<C extends ProblemCode> (code: C) {
  const { title, description } = problemCatalogue[code]
  const members = (problemMembers as Partial<Record<ProblemCode, TProperties>>)[code] as MembersOf<C> | undefined
  return Type.Object({
    type: Type.String({ format: 'uri-reference', description: 'The kind of problem: a page of this service that describes the code', examples: [`/problems/${code}`] }),
    title: Type.String({ examples: [title] }),
    status: Type.Integer({ minimum: 400, maximum: 599, examples: [problemCatalogue[code].status] }),
    detail: Type.String({ description: 'What happened to this request, for people' }),
    code: Type.Literal(code, { description: 'Stable snake_case code that clients switch on; /problems/{code} describes each' }),
    instance: Type.Optional(Type.String({ format: 'uri-reference', description: 'The path of the request that met the problem', examples: ['/bookings'] })),
    ...(members ?? {} as MembersOf<C>)
  }, {
    $id: schemaName(code),
    title: schemaName(code),
    description: `${code}: ${description}`,
    additionalProperties: false,
    examples: [problemExample(code)]
  })
}

/** The problem schema of each code, a named component of the document. */
export const problemSchemas = Object.fromEntries(problemCodes.map((code) => [code, problemSchema(code)])) as unknown as
  { [C in ProblemCode]: ReturnType<typeof problemSchema<C>> }

/** RFC 9457 problem details of any code: a union discriminated by `code`. */
export type Problem = { [C in ProblemCode]: Static<(typeof problemSchemas)[C]> }[ProblemCode]

/**
 * The problems of the given codes: a reference to the one code's schema, or a union of several that
 * generated clients narrow on `code` (the discriminator).
 */
export function problemOf (codes: readonly ProblemCode[], options: { $id?: string, title?: string, description?: string } = {}): TSchema {
  const [only] = codes
  if (codes.length === 1 && only !== undefined && options.$id === undefined) return Type.Ref(problemSchemas[only])
  return Type.Unsafe<Problem>({
    ...options,
    oneOf: codes.map((code) => Type.Ref(problemSchemas[code])),
    discriminator: { propertyName: 'code', mapping: Object.fromEntries(codes.map((code) => [code, `#/components/schemas/${schemaName(code)}`])) }
  })
}

export const Problem = problemOf(problemCodes, {
  $id: 'Problem',
  title: 'Problem',
  description: 'RFC 9457 problem details, served as application/problem+json: one of the *Problem schemas, told apart by `code`. Each response names those it may answer.'
})
