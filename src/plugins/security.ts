import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { problem, sendProblem } from '../http/problems.ts'

const apiPolicy = "default-src 'none';frame-ancestors 'none'"

export interface SecurityOptions {
  /** Origins whose browser pages may call the API; none by default, so no CORS headers at all. */
  corsOrigins: string[]
}

/**
 * Security headers on every answer. The API answers JSON only, so its content security policy
 * allows nothing to load or frame it; Swagger UI at /docs sets its own, looser policy for its page
 * (see documentation.ts).
 */
export default fp(async function security (app: FastifyInstance, { corsOrigins }: SecurityOptions) {
  await app.register(helmet, {
    // Set below as one constant: helmet builds the policy anew for every answer (it showed in the
    // server's CPU profile during a flash sale) for a string that never changes.
    contentSecurityPolicy: false,
    // Served over plain HTTP behind a TLS-terminating proxy too; HSTS is that proxy's to send.
    strictTransportSecurity: false
  })
  app.addHook('onRequest', async (_request, reply) => { reply.header('content-security-policy', apiPolicy) })
  if (corsOrigins.length === 0) return
  // @fastify/cors refuses a preflight without these headers as text/plain; here it is a problem.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS' && (request.headers.origin === undefined || request.headers['access-control-request-method'] === undefined)) {
      return await sendProblem(reply, problem('bad_request', 'A CORS preflight needs Origin and Access-Control-Request-Method'))
    }
  })
  await app.register(cors, {
    origin: corsOrigins,
    methods: ['GET', 'POST'],
    allowedHeaders: ['content-type', 'authorization', 'idempotency-key'],
    exposedHeaders: ['retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
    maxAge: 600
  })
}, { name: 'security' })
