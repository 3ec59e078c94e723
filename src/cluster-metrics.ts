import cluster from 'node:cluster'
import { randomUUID } from 'node:crypto'
import { AggregatorRegistry } from 'prom-client'

/**
 * The metrics of a node:cluster, summed by the primary, so that a scrape through the shared port
 * sees the whole service whichever worker answers. A worker asks by message; the primary answers.
 */
const metricsRequest = 'booking:metrics'
const answerTimeoutMs = 3_000

interface MetricsMessage { type: typeof metricsRequest, id: string, text?: string, error?: string }
const isMetricsMessage = (message: unknown): message is MetricsMessage =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === metricsRequest

/**
 * In a worker: every worker's metrics, summed. Undefined outside a cluster or when the primary
 * does not answer in time.
 */
export async function clusterMetrics (): Promise<string | undefined> {
  if (!cluster.isWorker || process.send === undefined) return undefined
  const id = randomUUID()
  return await new Promise((resolve) => {
    const timer = setTimeout(() => finish(undefined), answerTimeoutMs)
    function finish (text: string | undefined): void {
      clearTimeout(timer)
      process.off('message', onMessage)
      resolve(text)
    }
    function onMessage (message: unknown): void {
      if (isMetricsMessage(message) && message.id === id) finish(message.text)
    }
    process.on('message', onMessage)
    process.send!({ type: metricsRequest, id } satisfies MetricsMessage)
  })
}

/** In the primary: answers the workers' requests for the summed metrics. */
export function answerMetricsRequests (): void {
  const aggregator = new AggregatorRegistry()
  cluster.on('message', (worker, message: unknown) => {
    if (!isMetricsMessage(message)) return
    aggregator.clusterMetrics().then(
      (text) => { worker.send({ type: metricsRequest, id: message.id, text } satisfies MetricsMessage) },
      (error: Error) => { worker.send({ type: metricsRequest, id: message.id, error: error.message } satisfies MetricsMessage) })
  })
}
