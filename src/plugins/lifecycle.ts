import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { problem, sendProblem } from '../http/problems.ts'
import { trackUnsentAnswers } from '../http/unsent-answers.ts'

/** How long each step of a graceful shutdown may take; together they fit in the process's grace. */
export interface ShutdownTimings {
  /**
   * How long the process keeps serving before it stops listening: requests already on their way
   * (on new connections, which closing the listener would reset) are answered, and load balancers
   * polling /ready see the 503 and stop sending.
   */
  drainMs: number
  /** How long it waits for answers already ended to reach slow clients. */
  answerFlushMs: number
}

/**
 * Where the app stands between serving and closed. Shutting down has two steps. Draining:
 * requests are still served, /ready answers 503 so that load balancers stop sending more, and
 * answers end their connection, so that keep-alive sockets do not hold the shutdown open for
 * Fastify's 72 s keep-alive timeout. Closing (app.close()): requests that still arrive on kept-alive
 * connections are refused, streams end, then the server and everything registered on it close.
 */
export interface Lifecycle {
  draining: () => boolean
  closing: () => boolean
  /** The first step alone. */
  startDraining: () => void
  /** Calls `listener` when draining begins (at once if it has), for what answers readiness elsewhere. */
  onDraining: (listener: () => void) => void
  /** Both steps in order: drain, let answers already ended leave the process, app.close(). */
  shutdown: (timings: ShutdownTimings) => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle
  }
}

export default fp(async function lifecycle (app: FastifyInstance) {
  let draining = false
  let closing = false
  const drainingListeners: Array<() => void> = []
  const drain = (): void => {
    if (draining) return
    draining = true
    for (const listener of drainingListeners) listener()
  }
  const answersSent = trackUnsentAnswers(app.server)

  app.addHook('preClose', async () => { closing = true; drain() })
  app.addHook('onSend', async (_request, reply) => { if (draining) reply.header('connection', 'close') })
  // Fastify's own 503 for a request arriving once closing began is not a problem document.
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) return await sendProblem(reply, problem('service_unavailable', 'The server is shutting down; retry'))
  })

  app.decorate('lifecycle', {
    draining: () => draining,
    closing: () => closing,
    startDraining: drain,
    onDraining: (listener) => {
      drainingListeners.push(listener)
      if (draining) listener()
    },
    async shutdown ({ drainMs, answerFlushMs }: ShutdownTimings): Promise<void> {
      drain()
      await sleep(drainMs)
      await answersSent(answerFlushMs)
      await app.close()
    }
  } satisfies Lifecycle)
}, { name: 'lifecycle' })
