import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import etag from '@fastify/etag'
import { Type, type TSchema } from '@sinclair/typebox'
import { IdParams, PageQuery, SeatMap, Show, ShowAvailability, ShowPage } from '../../api/index.ts'
import type { BookingEngine } from '../engine/index.ts'
import { databaseProblems, jsonResponse, problemResponse, validationFailed } from '../http/responses.ts'

const showNotFound = problemResponse({ show_not_found: 'no show with this id (a malformed id too)' })

/**
 * How long a client or shared cache may reuse an answer. A show never changes once created, and
 * the list only gains and loses shows, so a few seconds are harmless; counts and the seat map
 * change with every hold, so they are revalidated each time (their ETag makes that a 304).
 */
const cacheControl: Record<string, string> = {
  '/shows': 'public, max-age=5',
  '/shows/:id': 'public, max-age=5',
  '/shows/:id/availability': 'no-cache',
  '/shows/:id/seats': 'no-cache'
}

const conditional = Type.Object({
  'if-none-match': Type.Optional(Type.String({ description: 'The ETag of the answer the client has: 304 when it is still current' }))
})

/** A cacheable answer: its ETag and Cache-Control, and the 304 that a current If-None-Match gets. */
function cached<T extends TSchema> (schema: T, description: string) {
  return {
    200: {
      ...jsonResponse(schema, description),
      headers: {
        etag: Type.String({ description: 'Changes when the answer does' }),
        'cache-control': Type.String({ description: 'How long the answer may be reused without asking again' })
      }
    },
    304: Type.Null({ description: 'Not modified: the ETag in If-None-Match is still current; no body' })
  }
}

const shows: FastifyPluginAsyncTypebox<{ engine: BookingEngine }> = async (app, { engine }) => {
  // Before the ETag's hook, which may turn the answer into a 304 that keeps the same policy.
  app.addHook('onSend', async (request, reply) => {
    const policy = cacheControl[request.routeOptions.url ?? '']
    if (policy !== undefined && reply.statusCode === 200) reply.header('cache-control', policy)
  })
  // A client that sends the ETag it has in If-None-Match gets 304 and no body when nothing changed.
  await app.register(etag)
  app.get('/shows', {
    schema: {
      operationId: 'listShows',
      tags: ['shows'],
      security: [],
      summary: 'Upcoming shows, by start time',
      querystring: PageQuery,
      headers: conditional,
      response: { ...cached(Type.Ref(ShowPage), 'A page of upcoming shows'), 400: validationFailed, ...databaseProblems }
    }
  }, async (request) => await engine.listUpcomingShows(request.query.limit, request.query.cursor))

  app.get('/shows/:id', {
    schema: {
      operationId: 'getShow',
      tags: ['shows'],
      security: [],
      summary: 'One show',
      params: IdParams,
      headers: conditional,
      response: { ...cached(Type.Ref(Show), 'The show'), 404: showNotFound, ...databaseProblems }
    }
  }, async (request) => await engine.getShow(request.params.id))

  app.get('/shows/:id/availability', {
    schema: {
      operationId: 'getShowAvailability',
      tags: ['shows'],
      security: [],
      summary: 'Seat counts of a show: available + held + booked = total',
      params: IdParams,
      headers: conditional,
      response: { ...cached(Type.Ref(ShowAvailability), 'The show and its counts'), 404: showNotFound, ...databaseProblems }
    }
  }, async (request) => await engine.getAvailability(request.params.id))

  app.get('/shows/:id/seats', {
    schema: {
      operationId: 'getShowSeats',
      tags: ['shows'],
      security: [],
      summary: 'The seat map: every seat in seat order with its status',
      params: IdParams,
      headers: conditional,
      response: { ...cached(Type.Ref(SeatMap), 'Every seat of the show'), 404: showNotFound, ...databaseProblems }
    }
  }, async (request) => await engine.getSeatMap(request.params.id))
}

export default shows
