import { monitorEventLoopDelay } from 'node:perf_hooks'
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

export interface LoadSheddingOptions {
  /** Shed while this many requests wait for a database connection; 0 turns it off. */
  maxQueue: number
  /** Shed while a hold has waited this long (ms) for its show's next hold statement; 0 turns it off. */
  maxHoldWaitMs: number
  /** Shed while the event loop lags more than this (ms, mean over a second); 0 turns it off. */
  maxEventLoopDelayMs: number
  /** Requests waiting for a database connection now. */
  queued: () => number
  /** How long (ms) the hold that has waited longest for its show's next statement has waited. */
  longestHoldWaitMs: () => number
}

/** For routes that must answer under load: health checks and metrics. */
export const neverShed = { pressureHandler: () => undefined }

const checkIntervalMs = 100
const lagWindowMs = 1000
const lagResolutionMs = 10

/**
 * The event loop's mean lag over the last second, measured from the moment the server is ready, as
 * under-pressure measures it but for one thing: under-pressure starts when the plugin registers,
 * so its first second held the server's own start-up (schema compilation, the first connections),
 * and a server that had just answered /ready shed its first requests for up to a second.
 */
function eventLoopLag (app: FastifyInstance): () => number {
  const histogram = monitorEventLoopDelay({ resolution: lagResolutionMs })
  let lag = 0
  const window = setInterval(() => {
    lag = histogram.count === 0 ? 0 : Math.max(0, histogram.mean / 1e6 - lagResolutionMs)
    histogram.reset()
  }, lagWindowMs)
  window.unref()
  app.addHook('onReady', async () => { histogram.reset(); histogram.enable(); window.refresh() })
  app.addHook('onClose', async () => { clearInterval(window); histogram.disable() })
  return () => lag
}

/**
 * Past the point where waiting only makes answers later, refuse at once with 503 `overloaded` and
 * Retry-After, so clients back off instead of piling up until their requests time out. The waits
 * for the database are the signal that matters here: the pool's queue, and how long holds have
 * waited for their show's next hold statement. Holds are batched, so thousands of them waiting is
 * normal in a flash sale and shedding them by count would collapse the sale; only their age says
 * that the database is falling behind. Routes marked `neverShed` are always served.
 */
export default fp(async function loadShedding (app: FastifyInstance, options: LoadSheddingOptions) {
  if (options.maxQueue === 0 && options.maxHoldWaitMs === 0 && options.maxEventLoopDelayMs === 0) return
  // No measuring (a histogram and a timer) when its check is off.
  const lag = options.maxEventLoopDelayMs === 0 ? () => 0 : eventLoopLag(app)
  const queueOk = (): boolean => options.maxQueue === 0 || options.queued() < options.maxQueue
  const holdsOk = (): boolean => options.maxHoldWaitMs === 0 || options.longestHoldWaitMs() < options.maxHoldWaitMs
  const lagOk = (): boolean => options.maxEventLoopDelayMs === 0 || lag() <= options.maxEventLoopDelayMs
  await app.register(underPressure, {
    healthCheck: async () => lagOk() && queueOk() && holdsOk(),
    healthCheckInterval: checkIntervalMs,
    retryAfter: 1
  })
}, { name: 'load-shedding' })
