/**
 * The health probe's process (probe.ts starts it): polls /health and /ready at each base URL its
 * arguments name (`name=url`) every 100 ms, each on a keep-alive connection of its own, as a load
 * balancer would. On 'measure' on its IPC channel it forgets what it saw so far; on 'stop' it
 * sends what it saw since, by name, and exits. A process of its own, so that the load generator's
 * busy event loop does not show as server latency.
 */
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'

const intervalMs = 100

export interface Probed {
  polls: number
  maxMs: number
  /** Answers other than 200, by status; `error` when the request failed. */
  notOk: Record<string, number>
}

let stopping = false

function get (agent: http.Agent, url: string): Promise<string> {
  return new Promise((resolve) => {
    http.get(url, { agent }, (response) => {
      response.resume()
      response.once('end', () => resolve(String(response.statusCode)))
    }).once('error', () => resolve('error'))
  })
}

async function poll (url: string, seen: Probed): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  while (!stopping) {
    const started = performance.now()
    const status = await get(agent, url)
    const ms = performance.now() - started
    seen.polls++
    seen.maxMs = Math.max(seen.maxMs, ms)
    if (status !== '200') seen.notOk[status] = (seen.notOk[status] ?? 0) + 1
    await sleep(Math.max(0, intervalMs - ms))
  }
  agent.destroy()
}

const fresh = (): Probed => ({ polls: 0, maxMs: 0, notOk: {} })
const seen = process.argv.slice(2).map((argument) => {
  const at = argument.indexOf('=')
  return { name: argument.slice(0, at), base: argument.slice(at + 1), health: fresh(), ready: fresh() }
})
const polling = Promise.all(seen.flatMap(({ base, health, ready }) => [poll(`${base}/health`, health), poll(`${base}/ready`, ready)]))
process.on('message', (message) => {
  if (message === 'measure') {
    for (const { health, ready } of seen) {
      Object.assign(health, fresh())
      Object.assign(ready, fresh())
    }
    return
  }
  stopping = true
  const byName = Object.fromEntries(seen.map(({ name, health, ready }) => [name, { health, ready }]))
  void polling.then(() => process.send?.(byName, () => process.exit(0)))
})
process.send?.('polling')
