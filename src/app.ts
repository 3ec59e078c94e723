import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyError, type FastifyServerOptions } from 'fastify'
import { components, tags } from '../api/index.ts'
import type { Database, PoolStats } from './db/database.ts'
import { createBookingEngine, type EngineSettings } from './engine/index.ts'
import { createShowEvents, type ShowEventsSettings } from './events/show-events.ts'
import { allowedMethods } from './http/allowed-methods.ts'
import { answerClientError } from './http/client-errors.ts'
import { finishDocument } from './http/document.ts'
import { problem, sendProblem, toProblem } from './http/problems.ts'
import { requestId } from './http/request-id.ts'
import { trackUnsentAnswers } from './http/unsent-answers.ts'
import { unavailabilityLog } from './http/unavailability-log.ts'
import validation from './http/validation.ts'
import admin from './routes/admin.ts'
import bookings from './routes/bookings.ts'
import events from './routes/events.ts'
import operations from './routes/operations.ts'
import problems from './routes/problems.ts'
import shows from './routes/shows.ts'
import loadShedding, { type LoadSheddingOptions } from './plugins/load-shedding.ts'
import rateLimit, { type RateLimitOptions } from './plugins/rate-limit.ts'
import security from './plugins/security.ts'
import metricsPlugin from './plugins/metrics.ts'
import { createMetrics } from './metrics.ts'
import packageJson from '../package.json' with { type: 'json' }

/** How the app meets the outside world; each protection is off unless set (the server sets them from its config). */
export interface HttpSettings {
  corsOrigins: string[]
  trustProxy: boolean | number | string[]
  rateLimits: RateLimitOptions
  loadShedding: Omit<LoadSheddingOptions, 'queued' | 'longestHoldWaitMs'>
}

const noProtections: HttpSettings = {
  corsOrigins: [],
  trustProxy: false,
  rateLimits: { bookingsPerMinute: 0, adminPerMinute: 0 },
  loadShedding: { maxQueue: 0, maxHoldWaitMs: 0, maxEventLoopDelayMs: 0 }
}

/** Trusts the `hops` proxies nearest the server, as Fastify does for a number (its types lack it). */
const trustHops = (hops: number) => (_address: string, hop: number): boolean => hop < hops

export interface AppOptions {
  db: Database
  engine: EngineSettings
  adminToken: string
  pendingMigrations: () => Promise<string[]>
  /** Without it, load shedding and metrics see an empty pool. */
  poolStats?: () => PoolStats
  http?: Partial<HttpSettings>
  logger?: FastifyServerOptions['logger']
  /** Live availability (GET /shows/{id}/events); without it that route answers 503. */
  showEvents?: ShowEventsSettings
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
  const http = { ...noProtections, ...options.http }
  const poolStats = options.poolStats ?? (() => ({ total: 0, idle: 0, waiting: 0 }))
  const app = Fastify({
    logger: options.logger ?? false,
    trustProxy: typeof http.trustProxy === 'number' ? trustHops(http.trustProxy) : http.trustProxy,
    genReqId: requestId,
    bodyLimit: 64 * 1024,
    return503OnClosing: false,
    // Errors the router raises before any route or hook runs (a malformed or overlong path) are
    // problems like every other.
    frameworkErrors: (error, request, reply) => { void sendProblem(reply, toProblem(error, request)) },
    // A client gets 30 s to send its request (slowloris); answers, event streams included, are not bounded by it.
    requestTimeout: 30_000,
    clientErrorHandler: answerClientError,
    // Path ids up to 1,000 characters reach their route; a longer one is not found of its
    // resource all the same (toProblem), without the router matching it.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 }
  }).withTypeProvider<TypeBoxTypeProvider>()

  const showEvents = options.showEvents === undefined
    ? undefined
    : createShowEvents({ ...options.showEvents, db: options.db, log: app.log })
  const metrics = createMetrics({
    pool: poolStats,
    subscribers: () => showEvents?.subscriberCount() ?? 0,
    holdsWaiting: () => engine.holdsWaiting()
  })
  const engine = createBookingEngine(options.db, options.engine, {
    ...metrics.observer,
    showChanged: (showId) => { showEvents?.publish(showId) }
  })

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: documentInfo,
      // Relative, so that "Try it out" in /docs calls the server that serves the page.
      servers: [{ url: '/', description: 'The server serving this document (local, staging or production alike)', }],
      tags,
      components: {
        securitySchemes: {
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN, as `Authorization: Bearer <token>`' }
        }
      }
    },
    transformObject: (document) => 'openapiObject' in document ? finishDocument(document.openapiObject) : document.swaggerObject,
    // Name each component after its $id, so that generated clients get Show, Booking, Problem...
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
  })
  app.addHook('onRequest', async (request, reply) => { reply.header('x-request-id', request.id) })
  const allowed = allowedMethods(app)
  await app.register(security, { corsOrigins: http.corsOrigins })
  await app.register(loadShedding, { ...http.loadShedding, queued: () => poolStats().waiting, longestHoldWaitMs: engine.longestHoldWaitMs })
  await app.register(rateLimit, http.rateLimits)
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // Swagger UI's own policy, with hashes of its inline script and style, replaces the API's
    // deny-all one on its pages. The page may be served over plain HTTP (a port-forward, a
    // TLS-terminating proxy), where upgrading its requests to HTTPS would break it.
    staticCSP: true,
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, '')
  })
  await app.register(validation, { schemas: components })
  // Bodies are JSON only; anything else is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain')

  // Shutting down has two steps. Draining: requests are still served (those already sent on new
  // connections too, which closing the listener would reset), /ready answers 503 so that load
  // balancers stop sending more, and answers end their connection, so that keep-alive sockets do
  // not hold the shutdown open for Fastify's 72 s keep-alive timeout. Closing: app.close().
  let draining = false
  let closing = false
  app.addHook('preClose', async () => { closing = true; draining = true })
  app.addHook('onSend', async (_request, reply) => { if (draining) reply.header('connection', 'close') })
  // A request that arrives on a kept-alive connection once closing began is refused as a problem
  // (Fastify's own 503 for it is not one), so the client retries elsewhere.
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) return await sendProblem(reply, problem('service_unavailable', 'The server is shutting down; retry'))
  })

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

  await app.register(metricsPlugin, { metrics })
  // After the server has closed, so that the writes of requests still in flight are published.
  if (showEvents !== undefined) app.addHook('onClose', async () => { await showEvents.close() })
  await app.register(operations, { pendingMigrations: options.pendingMigrations, draining: () => draining })
  await app.register(shows, { engine })
  await app.register(events, { events: showEvents })
  await app.register(bookings, { engine })
  await app.register(admin, { engine, adminToken: options.adminToken })
  await app.register(problems)
  return Object.assign(app, {
    engine,
    showEvents,
    metrics,
    /** The first step of a graceful shutdown (see above); app.close() is the second. */
    startDraining: () => { draining = true },
    /** Before app.close(): waits, at most `limitMs`, for answers already ended to leave the process. */
    answersSent: trackUnsentAnswers(app.server)
  })
}

export type App = Awaited<ReturnType<typeof buildApp>>
