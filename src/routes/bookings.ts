import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { AdmissionHeaders, Booking, CreateBookingRequest, EmptyRequest, IdempotencyHeaders, IdParams } from '../../api/index.ts'
import { defaultEngineSettings } from '../config.ts'
import type { BookingEngine, HoldRequest } from '../engine/index.ts'
import { bodyProblems, createdResponse, databaseProblems, jsonResponse, problemResponse, rateLimitProblems } from '../http/responses.ts'

const bookingNotFound = problemResponse({ booking_not_found: 'no booking with this id (a malformed id too)' })

const bookings: FastifyPluginAsyncTypebox<{ engine: BookingEngine }> = async (app, { engine }) => {
  app.post('/bookings', {
    schema: {
      operationId: 'createBooking',
      tags: ['bookings'],
      security: [],
      summary: 'Hold seats: any `quantity` of free seats, `quantity` seats together, or exactly the labelled `seats`',
      description: `The hold lasts HOLD_WINDOW_SECONDS (${defaultEngineSettings.holdSeconds} by default): confirm it before \`hold_expires_at\`, or it lapses and its seats are free again. ` +
        'While the show\'s waiting room is on, send the admission token its queue gave (`Admission-Token`).',
      headers: Type.Composite([IdempotencyHeaders, AdmissionHeaders]),
      body: Type.Ref(CreateBookingRequest),
      response: {
        201: createdResponse(Type.Ref(Booking), 'The hold: a PENDING booking', '/bookings/{id}'),
        ...bodyProblems,
        403: problemResponse({ admission_required: 'the show\'s waiting room is on and `Admission-Token` is missing, forged, expired or of another show' }),
        404: problemResponse({ show_not_found: 'no show with this show_id' }),
        409: problemResponse({
          sales_not_open: 'the show\'s sales open later (`sales_open_at` says when)',
          admission_in_use: 'the admission token holds a booking that is still PENDING',
          insufficient_seats: 'fewer seats are free than `quantity` (`available` says how many are)',
          no_adjacent_seats: 'no row has `quantity` adjacent free seats, with `together` (`available` and `largest_block` say what is free)',
          seats_unavailable: 'some of `seats` are not free (`unavailable` names them)',
          sales_closed: 'the show has started',
          idempotency_key_in_use: 'a request with this Idempotency-Key is still running'
        }),
        422: problemResponse({ idempotency_key_reused: 'this Idempotency-Key came with another body' }),
        ...rateLimitProblems,
        ...databaseProblems
      }
    }
  }, async (request, reply) => {
    const body = request.body as CreateBookingRequest
    const hold: HoldRequest = !('quantity' in body)
      ? { showId: body.show_id, labels: body.seats }
      : body.together === true
        ? { showId: body.show_id, quantity: body.quantity, together: true }
        : { showId: body.show_id, quantity: body.quantity }
    const booking = await engine.hold(hold, request.headers['idempotency-key'], request.headers['admission-token'])
    return await reply.code(201).header('location', `/bookings/${booking.id}`).send(booking)
  })

  app.get('/bookings/:id', {
    schema: {
      operationId: 'getBooking',
      tags: ['bookings'],
      security: [],
      summary: 'One booking; a lapsed hold reads EXPIRED',
      params: IdParams,
      response: { 200: jsonResponse(Type.Ref(Booking), 'The booking'), 404: bookingNotFound, ...databaseProblems }
    }
  }, async (request) => await engine.getBooking(request.params.id))

  app.post('/bookings/:id/confirm', {
    schema: {
      operationId: 'confirmBooking',
      tags: ['bookings'],
      security: [],
      summary: 'Confirm a hold: its seats become BOOKED (200 again when already confirmed)',
      params: IdParams,
      body: Type.Ref(EmptyRequest),
      response: {
        200: jsonResponse(Type.Ref(Booking), 'The CONFIRMED booking'),
        ...bodyProblems,
        404: bookingNotFound,
        409: problemResponse({ hold_expired: 'the hold ended first', booking_cancelled: 'it was cancelled' }),
        ...databaseProblems
      }
    }
  }, async (request) => await engine.confirm(request.params.id))

  app.post('/bookings/:id/extend', {
    schema: {
      operationId: 'extendBooking',
      tags: ['bookings'],
      security: [],
      summary: 'More time to pay: the hold ends HOLD_WINDOW_SECONDS from now, never later than MAX_HOLD_SECONDS after it was placed',
      description: `Moves \`hold_expires_at\` to HOLD_WINDOW_SECONDS (${defaultEngineSettings.holdSeconds} by default) from now, capped at \`created_at\` + ` +
        `MAX_HOLD_SECONDS (${defaultEngineSettings.maxHoldSeconds} by default); the seats stay held until then. Decided like a confirm: ` +
        'with the clock read once the booking and its seats are locked, so an extension and the hold\'s end never both win. ' +
        'Once the hold ends at the cap, `extension_limit` says so and gives the cap.',
      params: IdParams,
      body: Type.Ref(EmptyRequest),
      response: {
        200: jsonResponse(Type.Ref(Booking), 'The PENDING booking with its later `hold_expires_at`'),
        ...bodyProblems,
        404: bookingNotFound,
        409: problemResponse({
          hold_expired: 'the hold ended first',
          booking_confirmed: 'it is confirmed: nothing is held any more',
          booking_cancelled: 'it was cancelled',
          extension_limit: 'the hold already ends at the latest time allowed (`max_hold_expires_at`)'
        }),
        ...databaseProblems
      }
    }
  }, async (request) => await engine.extend(request.params.id))

  app.post('/bookings/:id/cancel', {
    schema: {
      operationId: 'cancelBooking',
      tags: ['bookings'],
      security: [],
      summary: 'Cancel a hold or a confirmed booking: its seats are free at once (200 again when already cancelled)',
      params: IdParams,
      body: Type.Ref(EmptyRequest),
      response: {
        200: jsonResponse(Type.Ref(Booking), 'The CANCELLED booking'),
        ...bodyProblems,
        404: bookingNotFound,
        409: problemResponse({ hold_expired: 'the hold had already ended' }),
        ...databaseProblems
      }
    }
  }, async (request) => await engine.cancel(request.params.id))
}

export default bookings
