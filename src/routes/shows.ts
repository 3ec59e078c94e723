import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { IdParams, PageQuery, SeatMap, Show, ShowAvailability, ShowPage } from '../../api/index.ts'
import type { BookingEngine } from '../engine/index.ts'
import { databaseProblems, jsonResponse, problemResponse, validationFailed } from '../http/responses.ts'

const showNotFound = problemResponse('show_not_found: no show with this id (a malformed id too)')

const shows: FastifyPluginAsyncTypebox<{ engine: BookingEngine }> = async (app, { engine }) => {
  app.get('/shows', {
    schema: {
      operationId: 'listShows',
      tags: ['shows'],
      security: [],
      summary: 'Upcoming shows, by start time',
      querystring: PageQuery,
      response: { 200: jsonResponse(Type.Ref(ShowPage), 'A page of upcoming shows'), 400: validationFailed, ...databaseProblems }
    }
  }, async (request) => await engine.listUpcomingShows(request.query.limit, request.query.cursor))

  app.get('/shows/:id', {
    schema: {
      operationId: 'getShow',
      tags: ['shows'],
      security: [],
      summary: 'One show',
      params: IdParams,
      response: { 200: jsonResponse(Type.Ref(Show), 'The show'), 404: showNotFound, ...databaseProblems }
    }
  }, async (request) => await engine.getShow(request.params.id))

  app.get('/shows/:id/availability', {
    schema: {
      operationId: 'getShowAvailability',
      tags: ['shows'],
      security: [],
      summary: 'Seat counts of a show: available + held + booked = total',
      params: IdParams,
      response: { 200: jsonResponse(Type.Ref(ShowAvailability), 'The show and its counts'), 404: showNotFound, ...databaseProblems }
    }
  }, async (request) => await engine.getAvailability(request.params.id))

  app.get('/shows/:id/seats', {
    schema: {
      operationId: 'getShowSeats',
      tags: ['shows'],
      security: [],
      summary: 'The seat map: every seat in seat order with its status',
      params: IdParams,
      response: { 200: jsonResponse(Type.Ref(SeatMap), 'Every seat of the show'), 404: showNotFound, ...databaseProblems }
    }
  }, async (request) => await engine.getSeatMap(request.params.id))
}

export default shows
