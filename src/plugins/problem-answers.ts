import type { FastifyError, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { problem, sendProblem, toProblem } from '../http/problems.ts'
import { unavailabilityLog } from '../http/unavailability-log.ts'

/**
 * Every error and unknown route answered as a problem document. A wrong method on a real path is
 * 405 with `Allow`; `allowed` learns the paths as the routes are registered.
 */
export default fp(async function problemAnswers (app: FastifyInstance, { allowed }: { allowed: (path: string) => string[] }) {
  const logUnavailable = unavailabilityLog(app.log)
  app.setErrorHandler<FastifyError>(async (error, request, reply) => {
    const body = toProblem(error, request)
    // Shedding is the server doing what it should under load, and /metrics counts its 503s; an
    // error line with a stack for each would flood the log when the process can least afford it.
    if (body.code === 'overloaded') request.log.debug('shed: overloaded')
    else if (body.code === 'service_unavailable') logUnavailable(error)
    else if (body.status >= 500) request.log.error({ err: error }, 'request failed')
    return await sendProblem(reply, body)
  })
  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? ''
    const allow = allowed(path)
    if (allow.length === 0) return await sendProblem(reply, problem('route_not_found', `No route ${request.method} ${path}`))
    return await sendProblem(reply.header('allow', allow.join(', ')), problem('method_not_allowed', `${path} takes ${allow.join(', ')}`))
  })
}, { name: 'problem-answers' })
