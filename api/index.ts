/**
 * The HTTP contract of the booking API as TypeBox schemas: the single source of the runtime
 * validation, the response serialisation and the OpenAPI document. Imports nothing from src/.
 */
import { Booking, BookingPage, CreateBookingRequest, EmptyRequest, HoldByQuantityRequest, HoldBySeatsRequest } from './bookings.ts'
import { Problem, ProblemError, problemSchemas } from './problems.ts'
import { BookingEventStream, ShowEventStream } from './events.ts'
import { Health, Ready } from './operations.ts'
import {
  Availability, CreateNumberedShowRequest, CreateRowsShowRequest, CreateShowRequest, Seat, SeatMap, SeatRow,
  Show, ShowAvailability, ShowPage, ShowWithStats, ShowWithStatsPage
} from './shows.ts'
import { QueueEventStream, QueueTicket, SetAdmissionRate, SwitchWaitingRoomOff, WaitingRoom, WaitingRoomSettings, WaitingRoomUpdate } from './waiting-room.ts'

export * from './bookings.ts'
export * from './common.ts'
export * from './events.ts'
export * from './operations.ts'
export * from './problems.ts'
export * from './shows.ts'
export * from './waiting-room.ts'

/** Every named component, in an order where each comes after the components it refers to. */
export const components = [
  ProblemError, ...Object.values(problemSchemas), Problem,
  WaitingRoom, WaitingRoomSettings, SetAdmissionRate, SwitchWaitingRoomOff, WaitingRoomUpdate, QueueTicket, QueueEventStream,
  Show, Availability, ShowWithStats, ShowAvailability, ShowEventStream, Seat, SeatMap, SeatRow,
  CreateNumberedShowRequest, CreateRowsShowRequest, CreateShowRequest, ShowPage, ShowWithStatsPage,
  Booking, HoldByQuantityRequest, HoldBySeatsRequest, CreateBookingRequest, EmptyRequest, BookingPage, BookingEventStream,
  Health, Ready
]

export const tags = [
  { name: 'shows', description: 'Public: upcoming shows, their availability and seat maps' },
  { name: 'bookings', description: 'Public: hold seats, then confirm or cancel' },
  { name: 'queue', description: 'Public: the waiting room in front of a show\'s sale: join, watch your place, get admitted' },
  { name: 'admin', description: 'Admin: create shows, run their waiting rooms and look at their bookings (bearer token)' },
  { name: 'operations', description: 'Liveness and readiness' },
  { name: 'problems', description: 'What each problem code means: the pages problem `type`s name' }
]
