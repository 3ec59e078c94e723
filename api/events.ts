import { Type } from '@sinclair/typebox'

const eventIds = 'Every event has an `id`: the database\'s clock when the state it carries was read, in microseconds since ' +
  'the epoch, the same clock for every server process, so ids from different processes compare.'

/**
 * The body of GET /shows/{id}/events. OpenAPI cannot describe the events of a stream one by one,
 * so the stream is a documented string: the format is in the description, for humans and for
 * generated clients alike (which should read it with EventSource, not as one body).
 */
export const ShowEventStream = Type.String({
  $id: 'ShowEventStream',
  title: 'ShowEventStream',
  description: [
    'A `text/event-stream` (Server-Sent Events) that stays open. Events:',
    '',
    '- `availability`: its `data` is one line of JSON, the show\'s `Availability` object alone ' +
    '(`{ "total", "available", "held", "booked" }`, the same as `availability` in GET /shows/{id}/availability; ' +
    'the show itself is not repeated). The first is sent at once; then one follows each change of the counts ' +
    'made by any server process, at most 10 a second (changes in between are coalesced into the latest counts). ' +
    'An event is only sent when the counts differ from the previous one; a hold that lapses by the clock ' +
    '(no request changed it) shows as soon as it ends: the server counts again at the next hold\'s end.',
    '- A comment line `: keep-alive` every 15 s, so that proxies keep the connection open; clients ignore it.',
    '',
    eventIds + ' After a reconnection (EventSource sends the last id as `Last-Event-ID` on its own) the first event is ' +
    'the current availability, counted no earlier than the event the client last had, which is all a client needs. ' +
    'When the server shuts down it ends the stream; EventSource reconnects on its own.'
  ].join('\n'),
  examples: [
    'id: 1764669600123456\nevent: availability\ndata: {"total":500,"available":480,"held":12,"booked":8}\n\n' +
    'id: 1764669600529871\nevent: availability\ndata: {"total":500,"available":476,"held":16,"booked":8}\n\n' +
    ': keep-alive\n\n'
  ]
})

/** The body of GET /bookings/{id}/events, documented as ShowEventStream is. */
export const BookingEventStream = Type.String({
  $id: 'BookingEventStream',
  title: 'BookingEventStream',
  description: [
    'A `text/event-stream` (Server-Sent Events) that ends after the booking\'s final status. Events:',
    '',
    '- `booking`: its `data` is one line of JSON, the `Booking` as GET /bookings/{id} answers it. The first is sent ' +
    'at once; then one follows each change made through any server process: confirmed, cancelled, extended (a later ' +
    '`hold_expires_at`), and expired, sent within a second of `hold_expires_at` (the server reads the booking again ' +
    'when its hold ends). Changes less than 100 ms apart may come as one event carrying the latest booking. After a `booking` event whose status is CONFIRMED, CANCELLED or EXPIRED the server ends ' +
    'the stream: close the EventSource on such an event, or it reconnects and gets that final booking again.',
    '- A comment line `: keep-alive` every 15 s, so that proxies keep the connection open; clients ignore it.',
    '',
    eventIds + ' After a reconnection the first event is the booking as it is then, whatever `Last-Event-ID` says.'
  ].join('\n'),
  examples: [
    'id: 1764669600123456\nevent: booking\ndata: {"id":"5d0f3c2e-91a7-4f57-8a51-c1f1e5f0b2d4","show_id":"0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10",' +
    '"status":"PENDING","quantity":2,"seats":["A1","A2"],"hold_expires_at":"2026-11-25T10:02:00.000Z","created_at":"2026-11-25T10:00:00.000Z",' +
    '"confirmed_at":null,"cancelled_at":null}\n\n' +
    'id: 1764669645870211\nevent: booking\ndata: {"id":"5d0f3c2e-91a7-4f57-8a51-c1f1e5f0b2d4","show_id":"0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10",' +
    '"status":"CONFIRMED","quantity":2,"seats":["A1","A2"],"hold_expires_at":"2026-11-25T10:02:00.000Z","created_at":"2026-11-25T10:00:00.000Z",' +
    '"confirmed_at":"2026-11-25T10:00:45.870Z","cancelled_at":null}\n\n'
  ]
})

/** The header a reconnecting EventSource sends, read by the show stream. */
export const LastEventIdHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({
    description: 'Sent by EventSource when it reconnects: the `id` of the last event it had. Anything that is not such an id is ignored.',
    examples: ['1764669600123456']
  }))
})
