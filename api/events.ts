import { Type } from '@sinclair/typebox'

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
    'The stream carries no event ids: after a reconnection the first event is the current availability, ' +
    'which is all a client needs. When the server shuts down it ends the stream; EventSource reconnects on its own.'
  ].join('\n'),
  examples: [
    'event: availability\ndata: {"total":500,"available":480,"held":12,"booked":8}\n\n' +
    'event: availability\ndata: {"total":500,"available":476,"held":16,"booked":8}\n\n' +
    ': keep-alive\n\n'
  ]
})
