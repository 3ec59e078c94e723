import type { FastifyError, FastifyReply } from 'fastify'
import { maxProblemErrors, type Problem } from '../../api/index.ts'
import { EngineError } from '../engine/index.ts'
import { problem, problemContentType } from './problem-document.ts'

export { problem, problemContentType, problemPage } from './problem-document.ts'

export async function sendProblem (reply: FastifyReply, body: Problem): Promise<FastifyReply> {
  // Load shedding and rate limiting have set their own Retry-After already.
  if ((body.status === 503 || body.status === 429) && !reply.hasHeader('retry-after')) reply.header('retry-after', '1')
  if (body.status === 401) reply.header('www-authenticate', 'Bearer realm="admin"')
  const instance = reply.request.url.split('?')[0]
  // A problem is built here, never read from the database, so it is sent as it is: the route's
  // serializer would try a union's variants one by one, and answer 500 for a code it does not list.
  // Fastify adds the charset only to what it serializes itself.
  return await reply.code(body.status).type(`${problemContentType}; charset=utf-8`).serializer(JSON.stringify)
    .send({ ...body, ...(instance !== undefined && { instance }) })
}

function fromEngine (error: EngineError, part: string): Problem {
  const { code, message, details: { errors, available, largest_block: largestBlock, unavailable, max_hold_expires_at: maxHoldExpiresAt, sales_open_at: salesOpenAt } } = error
  if (code === 'invalid_input') {
    return problem('validation_failed', message, { errors: (errors ?? []).map(({ field, message }) => ({ path: `/${part}/${field}`, message })) })
  }
  // The engine gives the members its codes require; tests check every answer against the document.
  return { ...problem(code, message), ...(available !== undefined && { available }),
    ...(largestBlock !== undefined && { largest_block: largestBlock }), ...(unavailable !== undefined && { unavailable }),
    ...(maxHoldExpiresAt !== undefined && { max_hold_expires_at: maxHoldExpiresAt }), ...(salesOpenAt !== undefined && { sales_open_at: salesOpenAt }) } as Problem
}

const partNames: Record<string, string> = { body: 'body', querystring: 'query', params: 'params', headers: 'headers' }

interface AjvError {
  instancePath: string
  keyword: string
  params: Record<string, unknown>
  message?: string
}

function validationProblem (errors: AjvError[], context: string): Problem {
  const part = partNames[context] ?? context
  const reported = errors.slice(0, maxProblemErrors).map((error) => {
    const property = error.params.missingProperty ?? error.params.additionalProperty
    const path = `/${part}${error.instancePath}${typeof property === 'string' ? `/${property}` : ''}`
    const message = error.keyword === 'additionalProperties' ? 'is not a known property' : (error.message ?? 'is not valid')
    return { path, message }
  })
  const detail = reported.map(({ path, message }) => `${path} ${message}`).join('; ')
  return problem('validation_failed', detail, { errors: reported })
}

// PostgreSQL and pool errors that mean "the database is not answering", not "your request is bad".
// 25006: a write reached a read-only standby (a failover in progress).
const unavailableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '53300', '57014', '55P03', '40001', '40P01', '25006'])

function isDatabaseUnavailable (error: Error & { code?: string }): boolean {
  return (error.code !== undefined && (unavailableCodes.has(error.code) || error.code.startsWith('08'))) ||
    /timeout exceeded when trying to connect|Connection terminated|is not queryable/i.test(error.message)
}

/** What each path's id names, by the path's start; a path id elsewhere names a route (a problem page). */
const idsOf: Array<[RegExp, 'show_not_found' | 'booking_not_found']> = [[/^\/(admin\/)?shows\//, 'show_not_found'], [/^\/bookings\//, 'booking_not_found']]

/**
 * A path id the router cannot read (a malformed percent-encoding, or longer than its
 * maxParamLength) is not an id of anything: the 404 of its resource, as a well-formed unknown id.
 */
function malformedId (url: string): Problem {
  const path = url.split('?')[0] ?? ''
  const code = idsOf.find(([start]) => start.test(path))?.[1]
  if (code === undefined) return problem('route_not_found', 'No route has this path: a part of it is not a valid URL component')
  return problem(code, `No ${code === 'show_not_found' ? 'show' : 'booking'} has this id: it is not a valid URL component, or too long`)
}

/** Every error a request can end in, as a problem. Never a stack trace or a database message. */
export function toProblem (error: FastifyError & { validation?: AjvError[] }, request: { method: string, url: string }): Problem {
  if (error instanceof EngineError) return fromEngine(error, request.method === 'GET' ? 'query' : 'body')
  if (error.validation !== undefined) return validationProblem(error.validation, error.validationContext ?? 'body')
  const status = error.statusCode ?? 500
  if (status === 401) return problem('unauthorized', 'Send Authorization: Bearer <ADMIN_TOKEN>')
  if (status === 413) return problem('payload_too_large', 'The request body is larger than this API accepts')
  if (status === 415) return problem('unsupported_media_type', 'Send the body as application/json')
  if (status === 429) return problem('rate_limited', error.message)
  if (error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_MAX_PARAM_LENGTH') return malformedId(request.url)
  if (error.code === 'FST_UNDER_PRESSURE') return problem('overloaded', 'The server is at capacity; retry after Retry-After seconds')
  // Fastify's own 400s are about the body as a whole: unparseable or empty JSON.
  if (status === 400) return problem('validation_failed', error.message, { errors: [{ path: '/body', message: error.message }] })
  if (status > 400 && status < 500) return { ...problem('bad_request', error.message), status }
  if (isDatabaseUnavailable(error)) return problem('service_unavailable', 'The database is not answering; try again shortly')
  // Class 22 is PostgreSQL refusing a value (a NUL in text, say) that validation let through: the
  // request's fault, and nothing was written.
  if (error.code?.startsWith('22') === true) return problem('validation_failed', 'A value in the request cannot be stored', { errors: [{ path: '/body', message: 'contains a value the database cannot store' }] })
  return problem('internal_error', 'Something went wrong on our side; it has been logged')
}
