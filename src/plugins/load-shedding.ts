import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

export interface LoadSheddingOptions {
  /** Shed while this many requests wait for a database connection or a hold statement; 0 turns it off. */
  maxQueue: number
  /** Shed while the event loop lags more than this (ms, mean over a sample); 0 turns it off. */
  maxEventLoopDelayMs: number
  /** Requests waiting for a database connection or for their show's next hold statement now. */
  queued: () => number
}

/** For routes that must answer under load: health checks and metrics. */
export const neverShed = { pressureHandler: () => undefined }

/**
 * Past the point where waiting only makes answers later, refuse at once with 503 `overloaded` and
 * Retry-After, so clients back off instead of piling up until their requests time out. The queues
 * for the database are the signal that matters here: the pool's, and the holds waiting for their
 * show's next hold statement. Routes marked `neverShed` are always served.
 */
export default fp(async function loadShedding (app: FastifyInstance, options: LoadSheddingOptions) {
  if (options.maxQueue === 0 && options.maxEventLoopDelayMs === 0) return
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    ...(options.maxQueue > 0 && {
      healthCheck: async () => options.queued() < options.maxQueue,
      healthCheckInterval: 100
    }),
    retryAfter: 1
  })
}, { name: 'load-shedding' })
