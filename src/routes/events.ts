import type { OutgoingHttpHeaders } from 'node:http'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { IdParams, ShowEventStream } from '../../api/index.ts'
import { EngineError } from '../engine/index.ts'
import { defaultHeartbeatMs, defaultIntervalMs, type ShowEvents } from '../events/show-events.ts'
import { AvailabilityStream, eventStreamType } from '../http/availability-stream.ts'
import { problem, sendProblem } from '../http/problems.ts'
import { problemResponse } from '../http/responses.ts'

const description = 'Server-Sent Events: an `availability` event (data: the `Availability` object alone) at once, ' +
  `then after every change made through any server process, coalesced to at most ${1000 / defaultIntervalMs} a second; a \`: keep-alive\` ` +
  `comment every ${defaultHeartbeatMs / 1000} s. Unknown and malformed ids answer 404 before the stream starts. Use EventSource.`

/**
 * GET /shows/{id}/events. The stream is written to reply.raw after reply.hijack() rather than with
 * @fastify/sse: the hub sends one shared keep-alive and recount tick to every stream (the plugin
 * runs a timer per connection and writes `: heartbeat` regardless of backpressure), a slow client
 * must get the latest counts rather than a queue of sends, and the plugin's own 406 for
 * `Accept: application/json` is not a problem document.
 */
const showEvents: FastifyPluginAsyncTypebox<{ events: ShowEvents | undefined }> = async (app, { events }) => {
  const open = new Set<AvailabilityStream>()
  // A stream never ends by itself: without this the server's close would wait for its clients.
  app.addHook('preClose', async () => { for (const stream of open) stream.end() })

  const unavailable = (detail: string) => problem('service_unavailable', detail)

  app.get('/shows/:id/events', {
    schema: {
      operationId: 'getShowEvents',
      tags: ['shows'],
      security: [],
      summary: 'Live availability of a show, as Server-Sent Events',
      description,
      params: IdParams,
      response: {
        200: { description: 'An event stream that stays open', content: { [eventStreamType]: { schema: Type.Ref(ShowEventStream) } } },
        404: problemResponse({ show_not_found: 'no show with this id (a malformed id too)' }),
        503: problemResponse({ service_unavailable: 'the database is not answering, or the server is shutting down', overloaded: 'the server sheds load' },
          'Retry after Retry-After seconds (EventSource retries on its own)')
      }
    }
  }, async (request, reply) => {
    if (events === undefined) return await sendProblem(reply, unavailable('Live availability is not enabled in this process'))
    if (app.lifecycle.closing()) return await sendProblem(reply, unavailable('The server is shutting down'))
    const { id } = request.params
    const stream = new AvailabilityStream(reply.raw)
    const subscription = events.subscribe(id, stream)
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
    if (!found) throw new EngineError('show_not_found', `No show with id ${id}`)
    if (app.lifecycle.closing()) {
      end()
      return await sendProblem(reply, unavailable('The server is shutting down'))
    }
    reply.hijack()
    // The client may have gone while the show was looked up; then no 'close' is left to come.
    if (reply.raw.destroyed || request.raw.socket?.destroyed === true) {
      end()
      return
    }
    open.add(stream)
    // Headers set by hooks (CORS, say) would be lost with the hijack otherwise.
    const headers: OutgoingHttpHeaders = {}
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value
    stream.open(headers)
  })
}

export default showEvents
