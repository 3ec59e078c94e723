import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyServerOptions } from 'fastify'
import { components } from '../api/index.ts'
import type { Database, PoolStats } from './db/database.ts'
import { createBookingEngine, type EngineSettings } from './engine/index.ts'
import { createQueueWatch } from './events/queue-watch.ts'
import { createShowEvents, type ShowEventsSettings } from './events/show-events.ts'
import { allowedMethods } from './http/allowed-methods.ts'
import { answerClientError } from './http/client-errors.ts'
import { sendProblem, toProblem } from './http/problems.ts'
import { requestId } from './http/request-id.ts'
import validation from './http/validation.ts'
import { createMetrics } from './metrics.ts'
import { documentationPage, openApiDocument } from './plugins/documentation.ts'
import lifecycle from './plugins/lifecycle.ts'
import loadShedding, { type LoadSheddingOptions } from './plugins/load-shedding.ts'
import metricsPlugin from './plugins/metrics.ts'
import problemAnswers from './plugins/problem-answers.ts'
import rateLimit, { type RateLimitOptions } from './plugins/rate-limit.ts'
import security from './plugins/security.ts'
import admin from './routes/admin.ts'
import bookings from './routes/bookings.ts'
import events from './routes/events.ts'
import operations from './routes/operations.ts'
import problems from './routes/problems.ts'
import queue from './routes/queue.ts'
import shows from './routes/shows.ts'

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
  /** Live events (GET /shows/{id}/events, GET /bookings/{id}/events); without it those routes answer 503. */
  showEvents?: ShowEventsSettings
}

const emptyPool = (): PoolStats => ({ total: 0, idle: 0, waiting: 0 })

function serverOptions (http: HttpSettings, logger: AppOptions['logger']): FastifyServerOptions {
  return {
    logger: logger ?? false,
    trustProxy: typeof http.trustProxy === 'number' ? trustHops(http.trustProxy) : http.trustProxy,
    genReqId: requestId,
    bodyLimit: 64 * 1024,
    // The lifecycle plugin refuses requests once closing began, as a problem document.
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
  }
}

/** The engine, live availability and metrics, each feeding the others. */
function createServices (options: AppOptions, log: FastifyBaseLogger, poolStats: () => PoolStats) {
  const showEvents = options.showEvents === undefined
    ? undefined
    : createShowEvents({ ...options.showEvents, db: options.db, log })
  const metrics = createMetrics({
    pool: poolStats,
    subscribers: () => showEvents?.subscriberCount() ?? 0,
    bookingSubscribers: () => showEvents?.bookingSubscriberCount() ?? 0,
    queueStreams: () => queueWatch.watching(),
    holdsWaiting: () => engine.holdsWaiting()
  })
  const engine = createBookingEngine(options.db, options.engine, {
    ...metrics.observer,
    showChanged: (showId) => { showEvents?.publish(showId) }
  })
  const queueWatch = createQueueWatch(engine.waitingRoom, log)
  return { engine, showEvents, metrics, queueWatch }
}

/** The HTTP application: plugins, then the contract's routes, over an engine on `db`. */
export async function buildApp (options: AppOptions) {
  const http = { ...noProtections, ...options.http }
  const poolStats = options.poolStats ?? emptyPool
  const app = Fastify(serverOptions(http, options.logger)).withTypeProvider<TypeBoxTypeProvider>()
  const { engine, showEvents, metrics, queueWatch } = createServices(options, app.log, poolStats)

  await app.register(openApiDocument)
  app.addHook('onRequest', async (request, reply) => { reply.header('x-request-id', request.id) })
  const allowed = allowedMethods(app)
  await app.register(security, { corsOrigins: http.corsOrigins })
  await app.register(loadShedding, { ...http.loadShedding, queued: () => poolStats().waiting, longestHoldWaitMs: engine.longestHoldWaitMs })
  await app.register(rateLimit, http.rateLimits)
  await app.register(documentationPage)
  await app.register(validation, { schemas: components })
  // Bodies are JSON only; anything else is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain')
  // After the protections, so that a request refused while closing carries their headers too.
  await app.register(lifecycle)
  await app.register(problemAnswers, { allowed })
  await app.register(metricsPlugin, { metrics })
  // After the server has closed, so that the writes of requests still in flight are published.
  if (showEvents !== undefined) app.addHook('onClose', async () => { await showEvents.close() })

  await app.register(operations, { pendingMigrations: options.pendingMigrations })
  await app.register(shows, { engine })
  await app.register(events, { events: showEvents })
  await app.register(queue, { engine, watch: queueWatch })
  await app.register(bookings, { engine })
  await app.register(admin, { engine, adminToken: options.adminToken })
  await app.register(problems)
  return Object.assign(app, { engine, showEvents, metrics })
}

export type App = Awaited<ReturnType<typeof buildApp>>
