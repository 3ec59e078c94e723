import { Type, type Static, type TSchema } from '@sinclair/typebox'

/** The highest MAX_SEATS_PER_BOOKING and MAX_SEATS_PER_SHOW a server may be configured with. */
export const maxSeatsPerBooking = 1000
export const maxSeatsPerShow = 1_000_000

/** The most invalid values a validation_failed problem lists. */
export const maxProblemErrors = 100

export const Uuid = Type.String({ format: 'uuid', examples: ['0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10'] })
export const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339, UTC', examples: ['2035-12-31T20:00:00.000Z'] })

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
