import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { ProblemCode } from './problems.ts'

/** The highest MAX_SEATS_PER_BOOKING and MAX_SEATS_PER_SHOW a server may be configured with. */
export const maxSeatsPerBooking = 1000
export const maxSeatsPerShow = 1_000_000

/** The most invalid values a validation_failed problem lists. */
export const maxProblemErrors = 100

export const Uuid = Type.String({ format: 'uuid', examples: ['0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10'] })
export const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339, UTC', examples: ['2035-12-31T20:00:00.000Z'] })

export const ProblemError = Type.Object({
  path: Type.String({ description: 'JSON Pointer to the offending value, starting with the request part: `/body/quantity`, `/query/limit`, `/headers/idempotency-key`', examples: ['/body/quantity'] }),
  message: Type.String({ examples: ['must be >= 1'] })
}, { $id: 'ProblemError', title: 'ProblemError', additionalProperties: false })

export const Problem = Type.Object({
  type: Type.String({ format: 'uri-reference', description: 'The kind of problem: a page of this service that describes the code', examples: ['/problems/insufficient_seats'] }),
  title: Type.String({ examples: ['Not enough free seats'] }),
  status: Type.Integer({ minimum: 400, maximum: 599, examples: [409] }),
  detail: Type.String({ examples: ['Asked for 4 seats, 2 are free'] }),
  code: Type.Ref(ProblemCode),
  instance: Type.Optional(Type.String({ format: 'uri-reference', description: 'The path of the request that met the problem', examples: ['/bookings'] })),
  errors: Type.Optional(Type.Array(Type.Ref(ProblemError), { maxItems: maxProblemErrors, description: `validation_failed: every invalid value (the first ${maxProblemErrors})` })),
  available: Type.Optional(Type.Integer({ minimum: 0, maximum: maxSeatsPerShow, description: 'insufficient_seats: the free seats when it was decided' })),
  unavailable: Type.Optional(Type.Array(Type.String(), { maxItems: maxSeatsPerBooking, description: 'seats_unavailable: the asked-for labels that are not free' }))
}, {
  $id: 'Problem',
  title: 'Problem',
  description: 'RFC 9457 problem details, served as application/problem+json',
  additionalProperties: false,
  examples: [{
    type: '/problems/insufficient_seats',
    title: 'Not enough free seats',
    status: 409,
    detail: 'Asked for 4 seats, 2 are free',
    code: 'insufficient_seats',
    instance: '/bookings',
    available: 2
  }]
})
export type Problem = Static<typeof Problem>

export const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1..100 (20 when absent)' })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'next_cursor of the previous page' }))
}, { additionalProperties: false })
export type PageQuery = Static<typeof PageQuery>

export const NextCursor = Type.Union([Type.String(), Type.Null()], {
  description: 'Pass as `cursor` for the next page; null on the last page'
})

export function Page<T extends TSchema> (id: string, item: T, description: string) {
  return Type.Object({
    items: Type.Array(item, { maxItems: 100 }),
    next_cursor: NextCursor
  }, { $id: id, title: id, description, additionalProperties: false })
}

/** A path id: any string, so that a malformed id answers 404 like an unknown one. */
export const IdParams = Type.Object({
  id: Type.String({ description: 'A UUID; anything else is simply not found' })
})
export type IdParams = Static<typeof IdParams>
