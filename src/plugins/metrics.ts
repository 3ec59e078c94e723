import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { clusterMetrics } from '../cluster-metrics.ts'
import type { Metrics } from '../metrics.ts'
import { neverShed } from './load-shedding.ts'

/**
 * Times every request by its route template (so ids do not explode the label set; unknown paths
 * count as one `unmatched` route) and serves GET /metrics in Prometheus text format: with
 * WORKERS > 1, the sum over all workers.
 */
export default fp(async function metrics (app: FastifyInstance, { metrics }: { metrics: Metrics }) {
  app.addHook('onResponse', async (request, reply) => {
    metrics.requestEnded(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000)
  })

  app.get('/metrics', {
    config: neverShed,
    schema: {
      operationId: 'getMetrics',
      tags: ['operations'],
      security: [],
      summary: 'Prometheus metrics of this process',
      description: 'Request durations by route and status (`http_request_duration_seconds`), holds, confirms and cancels by outcome ' +
        '(`booking_operations_total{operation,outcome}`), expiry sweeps (`expiry_sweep_duration_seconds`, `expiry_sweep_expired_holds`, ' +
        '`booking_holds_expired_total`), the database pool (`db_pool_connections{state}`), live-availability streams ' +
        '(`sse_subscribers`), and Node.js process metrics including event loop lag (`nodejs_eventloop_lag_seconds`).',
      response: {
        200: {
          description: 'Prometheus text exposition format 0.0.4',
          content: { 'text/plain': { schema: { type: 'string', examples: ['booking_operations_total{operation="hold",outcome="ok"} 1204'] } } }
        }
      }
    }
  }, async (_request, reply) => {
    const text = await clusterMetrics() ?? await metrics.registry.metrics()
    return await reply.type(metrics.registry.contentType).send(text)
  })
}, { name: 'metrics' })
