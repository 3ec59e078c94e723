import { Type, type Static } from '@sinclair/typebox'
import { maxSeatsPerBooking, Page, Timestamp, Uuid } from './common.ts'

export const BookingStatus = Type.Union([
  Type.Literal('PENDING'), Type.Literal('CONFIRMED'), Type.Literal('EXPIRED'), Type.Literal('CANCELLED')
], { description: 'PENDING: seats held until hold_expires_at. EXPIRED from hold_expires_at on, even before the sweep has run.' })
export type BookingStatus = Static<typeof BookingStatus>

const NullableTimestamp = Type.Union([Timestamp, Type.Null()])

export const Booking = Type.Object({
  id: Type.String({ format: 'uuid', description: 'Random and unguessable: whoever knows it can confirm or cancel', examples: ['5d0f3c2e-91a7-4f57-8a51-c1f1e5f0b2d4'] }),
  show_id: Uuid,
  status: BookingStatus,
  quantity: Type.Integer({ minimum: 1, maximum: maxSeatsPerBooking, examples: [2] }),
  seats: Type.Array(Type.String(), { maxItems: maxSeatsPerBooking, description: 'Seat labels in seat order', examples: [['A1', 'A2']] }),
  hold_expires_at: Timestamp,
  created_at: Timestamp,
  confirmed_at: NullableTimestamp,
  cancelled_at: NullableTimestamp
}, {
  $id: 'Booking',
  title: 'Booking',
  additionalProperties: false,
  examples: [{
    id: '5d0f3c2e-91a7-4f57-8a51-c1f1e5f0b2d4',
    show_id: '0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10',
    status: 'PENDING',
    quantity: 2,
    seats: ['A1', 'A2'],
    hold_expires_at: '2026-11-25T10:02:00.000Z',
    created_at: '2026-11-25T10:00:00.000Z',
    confirmed_at: null,
    cancelled_at: null
  }]
})
export type Booking = Static<typeof Booking>

const ShowId = Type.String({ format: 'uuid', description: 'The show to hold seats of: the `id` of a Show from GET /shows (the example is made up)', examples: ['0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10'] })

export const HoldByQuantityRequest = Type.Object({
  show_id: ShowId,
  quantity: Type.Integer({ minimum: 1, maximum: maxSeatsPerBooking, description: 'Any free seats, the lowest in seat order; at most MAX_SEATS_PER_BOOKING (10 by default, 1000 at most)', examples: [2] }),
  together: Type.Optional(Type.Boolean({
    description: "`true`: `quantity` adjacent seats in one row (consecutive numbers on a numbered show), the block closest to the show's focal point that leaves no single free seat alone in its row when another block of that row would not; else 409 `no_adjacent_seats`. `false` or absent: any free seats"
  }))
}, {
  $id: 'HoldByQuantityRequest',
  title: 'HoldByQuantityRequest',
  additionalProperties: false,
  examples: [{ show_id: '0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10', quantity: 2 }, { show_id: '0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10', quantity: 4, together: true }]
})

export const HoldBySeatsRequest = Type.Object({
  show_id: ShowId,
  seats: Type.Array(Type.String({ pattern: '^[A-Z0-9]{1,8}$' }), {
    minItems: 1,
    maxItems: maxSeatsPerBooking,
    uniqueItems: true,
    description: 'Exactly these seat labels, all or none; at most MAX_SEATS_PER_BOOKING. A label the show does not have is answered as unavailable.',
    examples: [['A1', 'A2']]
  })
}, {
  $id: 'HoldBySeatsRequest',
  title: 'HoldBySeatsRequest',
  additionalProperties: false,
  examples: [{ show_id: '0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10', seats: ['A1', 'A2'] }]
})

export const CreateBookingRequest = Type.Union([Type.Ref(HoldByQuantityRequest), Type.Ref(HoldBySeatsRequest)], {
  $id: 'CreateBookingRequest',
  title: 'CreateBookingRequest',
  description: 'Either `quantity` or `seats`, not both'
})
export type CreateBookingRequest = Static<typeof HoldByQuantityRequest> | Static<typeof HoldBySeatsRequest>

export const EmptyRequest = Type.Object({}, {
  $id: 'EmptyRequest',
  title: 'EmptyRequest',
  description: 'No body: send none, an empty one or `{}`; any member is refused',
  additionalProperties: false
})

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({
    minLength: 1,
    maxLength: 255,
    pattern: '^[\\x21-\\x7E]+$',
    description: 'Makes the request safe to retry: for 24 hours the same key with the same body answers the first response again and holds nothing more (keys are scoped to their show: the same key on two shows is two requests); with another body it answers 422 idempotency_key_reused; while the first is still running, 409 idempotency_key_in_use. Use a new random UUID for each new request: a replay hands the first answer, booking id included, to whoever sends the same key and body, and with the booking id anyone can confirm or cancel it, so a guessable key gives a stranger your booking.',
    examples: ['3f2b8c4e-9d1a-4e7b-a6c5-0f8e2d4b7a91']
  }))
})

export const BookingListQuery = Type.Object({
  status: Type.Optional(Type.Union(BookingStatus.anyOf, { description: 'Only bookings of this status (as readers see it: a lapsed hold is EXPIRED)' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1..100 (20 when absent)' })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 }))
}, { additionalProperties: false })
export type BookingListQuery = Static<typeof BookingListQuery>

export const BookingPage = Page('BookingPage', Type.Ref(Booking), 'Bookings of a show, oldest first')
