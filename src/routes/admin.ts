import bearerAuth from '@fastify/bearer-auth'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { BookingListQuery, BookingPage, CreateShowRequest, IdParams, PageQuery, Show, ShowWithStatsPage, WaitingRoomUpdate } from '../../api/index.ts'
import type { BookingEngine } from '../engine/index.ts'
import { bodyProblems, createdResponse, databaseProblems, jsonResponse, problemResponse, rateLimitProblems, validationFailed } from '../http/responses.ts'

const unauthorized = problemResponse({ unauthorized: 'missing or wrong `Authorization: Bearer <ADMIN_TOKEN>`' })
const security = [{ adminToken: [] }]

const admin: FastifyPluginAsyncTypebox<{ engine: BookingEngine, adminToken: string }> = async (app, { engine, adminToken }) => {
  // Compares tokens in constant time and fails with a 401 error that the error handler turns into
  // the `unauthorized` problem; every route of this plugin is behind it.
  await app.register(bearerAuth, { keys: [adminToken], addHook: false, verifyErrorLogLevel: 'info' })
  app.addHook('onRequest', app.verifyBearerAuth!)

  app.post('/admin/shows', {
    schema: {
      operationId: 'createShow',
      tags: ['admin'],
      summary: 'Create a show with its seats: `total_seats` (numbered 1..N) or `rows` (A1..A20)',
      security,
      body: Type.Ref(CreateShowRequest),
      response: {
        201: createdResponse(Type.Ref(Show), 'The new show', '/shows/{id}'),
        ...bodyProblems,
        401: unauthorized,
        ...rateLimitProblems,
        ...databaseProblems
      }
    }
  }, async (request, reply) => {
    const show = await engine.createShow(request.body as CreateShowRequest)
    return await reply.code(201).header('location', `/shows/${show.id}`).send(show)
  })

  app.patch('/admin/shows/:id/waiting-room', {
    schema: {
      operationId: 'updateWaitingRoom',
      tags: ['admin'],
      summary: 'Change a show\'s waiting room during its sale: another `admit_per_minute`, or `enabled: false` to let everyone in',
      description: 'The change applies from now on, in every server process within a second; the buyers admitted so far stay admitted and nobody loses a place. ' +
        'Setting a rate on a show without a waiting room gives it one.',
      security,
      params: IdParams,
      body: Type.Ref(WaitingRoomUpdate),
      response: {
        200: jsonResponse(Type.Ref(Show), 'The show, with its waiting room as it is now'),
        ...bodyProblems,
        401: unauthorized,
        404: problemResponse({ show_not_found: 'no show with this id (a malformed id too)' }),
        ...rateLimitProblems,
        ...databaseProblems
      }
    }
  }, async (request) => await engine.setWaitingRoom(request.params.id, request.body as WaitingRoomUpdate))

  app.get('/admin/shows', {
    schema: {
      operationId: 'listAllShows',
      tags: ['admin'],
      summary: 'Every show, past ones too, with its seat counts',
      security,
      querystring: PageQuery,
      response: {
        200: jsonResponse(Type.Ref(ShowWithStatsPage), 'A page of shows'),
        400: validationFailed,
        401: unauthorized,
        ...rateLimitProblems,
        ...databaseProblems
      }
    }
  }, async (request) => await engine.listAllShows(request.query.limit, request.query.cursor))

  app.get('/admin/shows/:id/bookings', {
    schema: {
      operationId: 'listShowBookings',
      tags: ['admin'],
      summary: 'The bookings of a show, oldest first, optionally of one status',
      security,
      params: IdParams,
      querystring: BookingListQuery,
      response: {
        200: jsonResponse(Type.Ref(BookingPage), 'A page of bookings'),
        400: validationFailed,
        401: unauthorized,
        404: problemResponse({ show_not_found: 'no show with this id (a malformed id too)' }),
        ...rateLimitProblems,
        ...databaseProblems
      }
    }
  }, async (request) => await engine.listShowBookings(request.params.id, request.query))
}

export default admin
