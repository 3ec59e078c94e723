import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyError, type FastifyServerOptions } from 'fastify'
import { components, tags } from '../api/index.ts'
import type { Database } from './db/database.ts'
import { createBookingEngine, type EngineSettings } from './engine/index.ts'
import { problem, sendProblem, toProblem } from './http/problems.ts'
import validation from './http/validation.ts'
import admin from './routes/admin.ts'
import bookings from './routes/bookings.ts'
import operations from './routes/operations.ts'
import shows from './routes/shows.ts'
import packageJson from '../package.json' with { type: 'json' }

export interface AppOptions {
  db: Database
  engine: EngineSettings
  adminToken: string
  pendingMigrations: () => Promise<string[]>
  logger?: FastifyServerOptions['logger']
}

export const documentInfo = {
  title: 'Booking API',
  version: packageJson.version,
  description: 'A concurrency-safe ticket booking API. Admins create shows with seats; anyone lists shows, ' +
    'holds seats for a short window, then confirms or cancels. A hold that is not confirmed lapses on its own ' +
    'at `hold_expires_at`.\n\nErrors are RFC 9457 `application/problem+json` with a stable `code` to switch on.'
}

/** The HTTP application: plugins, then the contract's routes, over an engine on `db`. */
export async function buildApp (options: AppOptions) {
  const app = Fastify({
    logger: options.logger ?? false,
    // Never trust a client-sent request id in logs; generate our own.
    genReqId: () => crypto.randomUUID(),
    bodyLimit: 64 * 1024,
    // Long path ids are still answered as not found by their route, not as an unknown route.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 }
  }).withTypeProvider<TypeBoxTypeProvider>()

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: documentInfo,
      // Relative, so that "Try it out" in /docs calls the server that serves the page.
      servers: [{ url: '/', description: 'The server serving this document' }],
      tags,
      components: {
        securitySchemes: {
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN, as `Authorization: Bearer <token>`' }
        }
      }
    },
    // Name each component after its $id, so that generated clients get Show, Booking, Problem...
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  await app.register(validation, { schemas: components })
  // Bodies are JSON only; anything else is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain')

  // While closing, answers to requests still in flight end their connection, so that keep-alive
  // sockets do not hold a graceful shutdown open for Fastify's 72 s keep-alive timeout.
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onSend', async (_request, reply) => { if (closing) reply.header('connection', 'close') })

  app.setErrorHandler<FastifyError>(async (error, request, reply) => {
    const body = toProblem(error, request.method)
    if (body.status >= 500) request.log.error({ err: error }, 'request failed')
    return await sendProblem(reply, body)
  })
  app.setNotFoundHandler(async (request, reply) =>
    await sendProblem(reply, problem(404, 'route_not_found', `No route ${request.method} ${request.url.split('?')[0] ?? ''}`)))

  const engine = createBookingEngine(options.db, options.engine)
  await app.register(operations, { pendingMigrations: options.pendingMigrations })
  await app.register(shows, { engine })
  await app.register(bookings, { engine })
  await app.register(admin, { engine, adminToken: options.adminToken })
  return Object.assign(app, { engine })
}

export type App = Awaited<ReturnType<typeof buildApp>>
