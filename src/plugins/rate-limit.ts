import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

export interface RateLimitOptions {
  /** POST /bookings per client per minute; 0 turns the limit off. */
  bookingsPerMinute: number
  /** Calls to the admin API per client per minute, all routes together; 0 turns the limit off. */
  adminPerMinute: number
}

const isAdmin = (request: FastifyRequest): boolean => request.routeOptions.url?.startsWith('/admin') === true
const isHold = (request: FastifyRequest): boolean => request.method === 'POST' && request.routeOptions.url === '/bookings'

/**
 * Per-client limits on the calls worth abusing: holding seats (a bot holding a whole show keeps it
 * from everyone) and the admin API (token guessing). A client is its address (request.ip, which
 * honours X-Forwarded-For only with TRUST_PROXY). Counters live in each process: with N processes
 * behind a balancer a client gets up to N times the limit. Going over answers 429 `rate_limited`
 * with Retry-After.
 */
export default fp(async function limits (app: FastifyInstance, options: RateLimitOptions) {
  await app.register(rateLimit, {
    global: false,
    // Thrown to the app's error handler, which answers the problem; the plugin has already set
    // Retry-After and the x-ratelimit-* headers on the reply.
    errorResponseBuilder: (_request, context) => Object.assign(
      new Error(`More than ${context.max} requests a minute from this client; retry in ${context.after}`),
      { statusCode: 429 })
  })
  const limiters = [
    { applies: isAdmin, perMinute: options.adminPerMinute },
    { applies: isHold, perMinute: options.bookingsPerMinute }
  ].filter(({ perMinute }) => perMinute > 0)
    .map(({ applies, perMinute }) => ({ applies, limit: app.rateLimit({ max: perMinute, timeWindow: 60_000 }) }))
  // At the root, so it runs before the admin routes' token check: wrong tokens count too.
  app.addHook('onRequest', async (request, reply) => {
    for (const { applies, limit } of limiters) if (applies(request)) await limit.call(app, request, reply)
  })
}, { name: 'rate-limit' })
