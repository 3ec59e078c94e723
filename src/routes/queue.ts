import type { OutgoingHttpHeaders } from 'node:http'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { EmptyRequest, IdParams, QueueEventStream, QueueTicket, QueueTicketParams } from '../../api/index.ts'
import type { BookingEngine } from '../engine/index.ts'
import { queueCheckMs, queueKeepAliveMs, type QueueWatch } from '../events/queue-watch.ts'
import { EventStream, eventStreamType } from '../http/event-stream.ts'
import { problem, sendProblem } from '../http/problems.ts'
import { bodyProblems, createdResponse, databaseProblems, jsonResponse, problemResponse } from '../http/responses.ts'

const showNotFound = problemResponse({ show_not_found: 'no show with this id (a malformed id too)' })
const invalidTicket = problemResponse({ invalid_ticket: 'the ticket was not issued for this show\'s queue, or was altered' })

const streamDescription = `Server-Sent Events: a \`ticket\` event (data: the QueueTicket) at once, then on every change, checked every ${queueCheckMs / 1000} s; ` +
  `the stream ends after the event that says \`admitted\`. A \`: keep-alive\` comment every ${queueKeepAliveMs / 1000} s. ` +
  'An unknown show answers 404 and an invalid ticket 400 before the stream starts.'

/** The waiting room of a show's on-sale: join it, then poll or listen for the place until admitted. */
const queue: FastifyPluginAsyncTypebox<{ engine: BookingEngine, watch: QueueWatch }> = async (app, { engine, watch }) => {
  // A stream never ends by itself: without this the server's close would wait for its clients.
  app.addHook('preClose', async () => { watch.close() })

  app.post('/shows/:id/queue', {
    schema: {
      operationId: 'joinQueue',
      tags: ['queue'],
      security: [],
      summary: 'Join the show\'s waiting room: a signed ticket and its place',
      description: 'Everyone who joins before `sales_open_at` is placed in one random order at the opening; later arrivals follow in the order they joined. ' +
        'Keep `ticket` and follow it (GET /shows/{id}/queue/{ticket}, or its events) until `status` is `admitted`, then hold with `admission_token`.',
      params: IdParams,
      body: Type.Optional(Type.Ref(EmptyRequest)),
      response: {
        201: createdResponse(Type.Ref(QueueTicket), 'The ticket and its place', '/shows/{id}/queue/{ticket}'),
        ...bodyProblems,
        404: showNotFound,
        409: problemResponse({ no_waiting_room: 'the show has no waiting room: hold directly', sales_closed: 'the show has started' }),
        ...databaseProblems
      }
    }
  }, async (request, reply) => {
    const ticket = await engine.joinQueue(request.params.id)
    return await reply.code(201).header('location', `/shows/${ticket.show_id}/queue/${ticket.ticket}`).send(ticket)
  })

  app.get('/shows/:id/queue/:ticket', {
    schema: {
      operationId: 'getQueueTicket',
      tags: ['queue'],
      security: [],
      summary: 'A ticket\'s current place in the waiting room, and its admission token once admitted',
      description: 'Cheap to poll (every few seconds); the events of the same path push each change instead.',
      params: QueueTicketParams,
      response: {
        200: jsonResponse(Type.Ref(QueueTicket), 'The ticket now'),
        400: invalidTicket,
        404: showNotFound,
        ...databaseProblems
      }
    }
  }, async (request) => await engine.queueTicket(request.params.id, request.params.ticket))

  app.get('/shows/:id/queue/:ticket/events', {
    schema: {
      operationId: 'getQueueTicketEvents',
      tags: ['queue'],
      security: [],
      summary: 'A ticket\'s place as it moves, as Server-Sent Events',
      description: streamDescription,
      params: QueueTicketParams,
      response: {
        200: { description: 'An event stream that ends once admitted', content: { [eventStreamType]: { schema: Type.Ref(QueueEventStream) } } },
        400: invalidTicket,
        404: showNotFound,
        503: problemResponse({ service_unavailable: 'the database is not answering, or the server is shutting down', overloaded: 'the server sheds load' },
          'Retry after Retry-After seconds (EventSource retries on its own)')
      }
    }
  }, async (request, reply) => {
    if (app.lifecycle.closing()) return await sendProblem(reply, problem('service_unavailable', 'The server is shutting down'))
    const { id, ticket } = request.params
    const { answer, claims } = await engine.waitingRoom.ticket(id, ticket)
    reply.hijack()
    if (reply.raw.destroyed || request.raw.socket?.destroyed === true) return
    const stream = new EventStream(reply.raw)
    // Headers set by hooks (CORS, say) would be lost with the hijack otherwise.
    const headers: OutgoingHttpHeaders = {}
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value
    stream.open(headers)
    reply.raw.once('close', watch.watch(id, answer, claims, stream))
  })
}

export default queue
