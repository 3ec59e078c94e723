import { Type, type Static } from '@sinclair/typebox'
import { maxSeatsPerShow, Page, Timestamp, Uuid } from './common.ts'
import { WaitingRoom, WaitingRoomSettings } from './waiting-room.ts'

const ShowName = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]*$', description: '1..200 characters, no control characters', examples: ['Coldplay — Mumbai, night 1'] })
const RowLabel = Type.String({ pattern: '^[A-Z0-9]{1,4}$', description: '1..4 of A-Z and 0-9', examples: ['A'] })
const StartTime = Type.String({ format: 'date-time', description: 'When the show starts; must be in the future, before the year 10000, and not a leap second (:60). Sales close then.', examples: ['2035-12-31T20:00:00Z'] })

export const Show = Type.Object({
  id: Uuid,
  name: ShowName,
  start_time: Timestamp,
  total_seats: Type.Integer({ minimum: 1, maximum: maxSeatsPerShow, examples: [500] }),
  layout: Type.Union([Type.Literal('numbered'), Type.Literal('rows')], {
    description: '`numbered`: seats 1..N. `rows`: seats labelled row then number, A1..A20'
  }),
  focal_row: Type.Union([RowLabel, Type.Null()], { description: 'The row of the focal point, where holds of seats together are drawn to; null for the front row (always null on a numbered show)' }),
  focal_seat: Type.Union([Type.Integer({ minimum: 1, maximum: maxSeatsPerShow, examples: [10] }), Type.Null()], { description: "The seat number of the focal point in its row; null for the row's middle" }),
  created_at: Timestamp,
  sales_open_at: Type.Union([Timestamp, Type.Null()], { description: 'Holds are taken from then on (409 sales_not_open before); null: from the creation' }),
  waiting_room: Type.Union([Type.Ref(WaitingRoom), Type.Null()], { description: 'The queue in front of the show; null when it has none' })
}, {
  $id: 'Show',
  title: 'Show',
  additionalProperties: false,
  examples: [{
    id: '0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10',
    name: 'Coldplay — Mumbai, night 1',
    start_time: '2035-12-31T20:00:00.000Z',
    total_seats: 500,
    layout: 'rows',
    focal_row: null,
    focal_seat: null,
    created_at: '2026-11-25T09:30:00.000Z',
    sales_open_at: '2035-12-01T10:00:00.000Z',
    waiting_room: { enabled: true, admit_per_minute: 600 }
  }]
})
export type Show = Static<typeof Show>

export const Availability = Type.Object({
  total: Type.Integer({ minimum: 0, maximum: maxSeatsPerShow, examples: [500] }),
  available: Type.Integer({ minimum: 0, maximum: maxSeatsPerShow, examples: [480] }),
  held: Type.Integer({ minimum: 0, maximum: maxSeatsPerShow, examples: [12] }),
  booked: Type.Integer({ minimum: 0, maximum: maxSeatsPerShow, examples: [8] })
}, {
  $id: 'Availability',
  title: 'Availability',
  description: 'Seat counts at one instant; available + held + booked = total, always. Seats of lapsed holds count as available.',
  additionalProperties: false
})
export type Availability = Static<typeof Availability>

export const ShowWithStats = Type.Composite([Show, Type.Object({ availability: Type.Ref(Availability) })], {
  $id: 'ShowWithStats', title: 'ShowWithStats', additionalProperties: false
})
export type ShowWithStats = Static<typeof ShowWithStats>

export const ShowAvailability = Type.Object({
  show: Type.Ref(Show),
  availability: Type.Ref(Availability)
}, { $id: 'ShowAvailability', title: 'ShowAvailability', additionalProperties: false })
export type ShowAvailability = Static<typeof ShowAvailability>

export const SeatStatus = Type.Union([Type.Literal('AVAILABLE'), Type.Literal('HELD'), Type.Literal('BOOKED')])

export const Seat = Type.Object({
  label: Type.String({ examples: ['A12'] }),
  row: Type.Union([Type.String(), Type.Null()], { description: 'Row label; null for a numbered layout', examples: ['A'] }),
  number: Type.Integer({ minimum: 1, maximum: maxSeatsPerShow, examples: [12] }),
  status: SeatStatus
}, { $id: 'Seat', title: 'Seat', additionalProperties: false })
export type Seat = Static<typeof Seat>

export const SeatMap = Type.Object({
  items: Type.Array(Type.Ref(Seat), { maxItems: maxSeatsPerShow, description: 'Every seat, in seat order' })
}, { $id: 'SeatMap', title: 'SeatMap', additionalProperties: false })

export const SeatRow = Type.Object({
  label: Type.String({ ...RowLabel, description: '1..4 of A-Z and 0-9, unique within the show' }),
  seats: Type.Integer({ minimum: 1, maximum: 500, examples: [20] })
}, { $id: 'SeatRow', title: 'SeatRow', additionalProperties: false })

/** How a new show's sale opens: at a set time, behind a waiting room; both optional. */
const saleOpening = {
  sales_open_at: Type.Optional(Type.String({ format: 'date-time', description: 'When holds are first taken (before start_time); holds before then answer 409 sales_not_open', examples: ['2035-12-01T10:00:00Z'] })),
  waiting_room: Type.Optional(Type.Ref(WaitingRoomSettings))
}

export const CreateNumberedShowRequest = Type.Object({
  name: ShowName,
  start_time: StartTime,
  total_seats: Type.Integer({ minimum: 1, maximum: maxSeatsPerShow, description: 'Seats labelled 1..N; at most MAX_SEATS_PER_SHOW (100000 by default, 1000000 at most)', examples: [500] }),
  focal_seat: Type.Optional(Type.Integer({ minimum: 1, maximum: maxSeatsPerShow, description: 'The seat that holds of seats together are drawn to, 1..total_seats; the middle seat when absent', examples: [20] })),
  ...saleOpening
}, {
  $id: 'CreateNumberedShowRequest',
  title: 'CreateNumberedShowRequest',
  additionalProperties: false,
  examples: [{ name: 'Bus 42, Pune to Goa', start_time: '2035-12-31T21:00:00Z', total_seats: 40 }]
})

export const CreateRowsShowRequest = Type.Object({
  name: ShowName,
  start_time: StartTime,
  rows: Type.Array(Type.Ref(SeatRow), {
    minItems: 1,
    maxItems: 200,
    description: 'Seats labelled row then number (A1..A20); the total is the sum and obeys MAX_SEATS_PER_SHOW'
  }),
  focal_row: Type.Optional(Type.String({ ...RowLabel, description: 'The row of the focal point, the place holds of seats together are drawn to: one of `rows`; the first row when absent' })),
  focal_seat: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: "The seat number of the focal point in its row, 1..that row's seats; the row's middle when absent", examples: [10] })),
  ...saleOpening
}, {
  $id: 'CreateRowsShowRequest',
  title: 'CreateRowsShowRequest',
  additionalProperties: false,
  examples: [{ name: 'Coldplay — Mumbai, night 1', start_time: '2035-12-31T20:00:00Z', rows: [{ label: 'A', seats: 20 }, { label: 'B', seats: 24 }] }]
})

export const CreateShowRequest = Type.Union([Type.Ref(CreateNumberedShowRequest), Type.Ref(CreateRowsShowRequest)], {
  $id: 'CreateShowRequest',
  title: 'CreateShowRequest',
  description: 'Either `total_seats` (a numbered layout) or `rows` (a rows layout), not both'
})
export type CreateShowRequest = Static<typeof CreateNumberedShowRequest> | Static<typeof CreateRowsShowRequest>

export const ShowPage = Page('ShowPage', Type.Ref(Show), 'Upcoming shows by start_time, then id')
export const ShowWithStatsPage = Page('ShowWithStatsPage', Type.Ref(ShowWithStats), 'Every show, past ones too, by start_time then id')
