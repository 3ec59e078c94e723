import type { OutgoingHttpHeaders } from 'node:http'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { BookingEventStream, IdParams, LastEventIdHeaders, ShowEventStream } from '../../api/index.ts'
import { bookingNotFound, showNotFound, type EngineError } from '../engine/index.ts'
import { defaultHeartbeatMs, defaultIntervalMs, type ShowEvents, type Subscription } from '../events/show-events.ts'
import { EventStream, eventStreamType } from '../http/event-stream.ts'
import { problem, sendProblem } from '../http/problems.ts'
import { problemResponse } from '../http/responses.ts'

const showDescription = 'Server-Sent Events: an `availability` event (data: the `Availability` object alone) at once, ' +
  `then after every change made through any server process, coalesced to at most ${1000 / defaultIntervalMs} a second; a \`: keep-alive\` ` +
  `comment every ${defaultHeartbeatMs / 1000} s. Every event has an \`id\`; a client back with \`Last-Event-ID\` gets the current counts ` +
  'at once, never older than those it had. Unknown and malformed ids answer 404 before the stream starts. Use EventSource.'

const bookingDescription = 'Server-Sent Events for the holder: a `booking` event (data: the `Booking`, as GET /bookings/{id} answers it) ' +
  'at once, then one for each change made through any server process (confirmed, cancelled, extended) and when the hold lapses ' +
  `(within a second of \`hold_expires_at\`); changes less than ${defaultIntervalMs} ms apart may come as one event, the latest; a \`: keep-alive\` comment every ${defaultHeartbeatMs / 1000} s. After a final status ` +
  '(CONFIRMED, CANCELLED or EXPIRED) the stream ends: close the EventSource then, or it reconnects and gets the final booking again. ' +
  'Unknown and malformed ids answer 404 before the stream starts.'

const unavailable = (detail: string) => problem('service_unavailable', detail)

const streamProblems = {
  503: problemResponse({ service_unavailable: 'the database is not answering, or the server is shutting down', overloaded: 'the server sheds load' },
    'Retry after Retry-After seconds (EventSource retries on its own)')
}

/**
 * The id of the last event a client had, as sent back in Last-Event-ID (the database time of a
 * read, see readTime); anything else is treated as absent, so that a reconnecting client always
 * gets its stream.
 */
const lastEventId = (header: string | undefined): bigint | undefined =>
  header !== undefined && /^\d{1,19}$/.test(header.trim()) ? BigInt(header.trim()) : undefined

/**
 * GET /shows/{id}/events and GET /bookings/{id}/events. The streams are written to reply.raw after
 * reply.hijack() rather than with @fastify/sse: the hub sends one shared keep-alive and recount tick
 * to every stream (the plugin runs a timer per connection and writes `: heartbeat` regardless of
 * backpressure), a slow client must get the latest state rather than a queue of sends, and the
 * plugin's own 406 for `Accept: application/json` is not a problem document.
 */
const liveEvents: FastifyPluginAsyncTypebox<{ events: ShowEvents | undefined }> = async (app, { events }) => {
  const open = new Set<EventStream>()
  // A stream never ends by itself: without this the server's close would wait for its clients.
  app.addHook('preClose', async () => { for (const stream of open) stream.end() })

  /**
   * Answers with the stream once the subscription has found its subject (404 `notFound` when it
   * has not), unless the server began to close meanwhile or the client went away.
   */
  async function serve (request: FastifyRequest, reply: FastifyReply, stream: EventStream, subscription: Subscription, notFound: EngineError): Promise<void> {
    const end = (): void => {
      subscription.cancel()
      open.delete(stream)
    }
    reply.raw.once('close', end)
    let found: boolean
    try {
      found = await subscription.found
    } catch (error) {
      end()
      throw error
    }
    if (!found) throw notFound
    if (app.lifecycle.closing()) {
      end()
      await sendProblem(reply, unavailable('The server is shutting down'))
      return
    }
    reply.hijack()
    // The client may have gone while the subject was looked up; then no 'close' is left to come.
    if (reply.raw.destroyed || request.raw.socket?.destroyed === true) {
      end()
      return
    }
    open.add(stream)
    // Headers set by hooks (CORS, say) would be lost with the hijack otherwise.
    const headers: OutgoingHttpHeaders = {}
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value
    stream.open(headers)
  }

  const notNow = () => unavailable(events === undefined ? 'Live events are not enabled in this process' : 'The server is shutting down')

  app.get('/shows/:id/events', {
    schema: {
      operationId: 'getShowEvents',
      tags: ['shows'],
      security: [],
      summary: 'Live availability of a show, as Server-Sent Events',
      description: showDescription,
      params: IdParams,
      headers: LastEventIdHeaders,
      response: {
        200: { description: 'An event stream that stays open', content: { [eventStreamType]: { schema: Type.Ref(ShowEventStream) } } },
        404: problemResponse({ show_not_found: 'no show with this id (a malformed id too)' }),
        ...streamProblems
      }
    }
  }, async (request, reply) => {
    if (events === undefined || app.lifecycle.closing()) return await sendProblem(reply, notNow())
    const { id } = request.params
    const stream = new EventStream(reply.raw)
    const subscription = events.subscribe(id, stream, lastEventId(request.headers['last-event-id']))
    await serve(request, reply, stream, subscription, showNotFound(id))
  })

  app.get('/bookings/:id/events', {
    schema: {
      operationId: 'getBookingEvents',
      tags: ['bookings'],
      security: [],
      summary: 'A booking\'s status as it changes, as Server-Sent Events, until it is final',
      description: bookingDescription,
      params: IdParams,
      response: {
        200: { description: 'An event stream that ends after a final status', content: { [eventStreamType]: { schema: Type.Ref(BookingEventStream) } } },
        404: problemResponse({ booking_not_found: 'no booking with this id (a malformed id too)' }),
        ...streamProblems
      }
    }
  }, async (request, reply) => {
    if (events === undefined || app.lifecycle.closing()) return await sendProblem(reply, notNow())
    const { id } = request.params
    const stream = new EventStream(reply.raw)
    await serve(request, reply, stream, events.watchBooking(id, stream), bookingNotFound(id))
  })
}

export default liveEvents
