import { performance } from 'node:perf_hooks'
import autocannon from 'autocannon'
import type { ProblemCode } from '../../api/index.ts'
import type { Outgoing } from './api.ts'
import { drainLimitSeconds, round } from './settings.ts'

/** The load generator: autocannon, driven one request at a time per connection. */

export interface Answer<T> { status: number, body: string, code: ProblemCode | undefined, tag: T, atMs: number }

export interface LoadOptions<T> {
  connections: number
  /** Exactly this many requests... */
  amount?: number
  /** ...or as many as fit in this many seconds. */
  seconds?: number
  /** Sent at this many per second over all connections (arrivals that do not wait for answers), not as fast as answered. */
  perSecond?: number
  next: () => { out: Outgoing, tag: T }
  answered?: (answer: Answer<T>) => void
  /** How long a request may wait for its answer before it counts as an error (autocannon's default: 10). */
  timeoutSeconds?: number
}

export interface LoadResult {
  connections: number
  requests: number
  /** First request sent to last answer received. */
  seconds: number
  ok: number
  okPerSecond: number
  /** Latency of 2xx answers. */
  latencyMs: { p50: number, p99: number, max: number }
  non2xx: number
  errors: number
  timeouts: number
  /** Answers by status and problem code, e.g. `201` or `409 insufficient_seats`. */
  statuses: Record<string, number>
  /** Requests that got no answer, by error code (a timeout, a reset connection). */
  failures: Record<string, number>
}

interface Slot { tag?: unknown, drain?: boolean }

function problemCode (body: string): ProblemCode | undefined {
  try {
    const code = (JSON.parse(body) as { code?: unknown }).code
    return typeof code === 'string' ? code as ProblemCode : undefined
  } catch {
    return undefined
  }
}

function asRequest (request: autocannon.Request, out: Outgoing): autocannon.Request {
  const body = out.body === undefined ? undefined : JSON.stringify(out.body)
  return { ...request, method: out.method, path: out.path, body, headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...out.headers } }
}

/**
 * Runs autocannon with one request template that `next` fills in, one request at a time per
 * connection (so a connection's context belongs to its one request in flight). A timed run stops
 * sending holds at its deadline and then sends only cheap 404s until every hold in flight has its
 * answer: autocannon would otherwise drop those answers, and holds the server made would go
 * uncounted.
 */
export async function load<T> (base: string, options: LoadOptions<T>): Promise<LoadResult> {
  // The load generator's own garbage from the last phase is collected now rather than during this
  // one (with `make bench`, which runs this script with --expose-gc). A fill-curve phase lasts
  // under half a second, where a collection shows as time the generator spent between requests.
  globalThis.gc?.()
  const connections = options.amount === undefined ? options.connections : Math.min(options.connections, options.amount)
  const statuses: Record<string, number> = {}
  let inFlight = 0
  let draining = false
  let lastAnswerMs = 0
  let stop = (): void => {}
  const stopWhenDrained = (): void => { if (draining && inFlight <= 0) stop() }
  const startedAt = performance.now()

  const request: autocannon.Request = {
    setupRequest: (template, context) => {
      const slot = context as Slot
      if (draining) {
        slot.drain = true
        return asRequest(template, { method: 'GET', path: '/bench-drain' })
      }
      const { out, tag } = options.next()
      slot.tag = tag
      inFlight++
      return asRequest(template, out)
    },
    onResponse: (status, body, context) => {
      const slot = context as Slot
      if (slot.drain === true) return
      inFlight--
      lastAnswerMs = performance.now() - startedAt
      const code = status >= 400 ? problemCode(body) : undefined
      const key = code === undefined ? String(status) : `${status} ${code}`
      statuses[key] = (statuses[key] ?? 0) + 1
      options.answered?.({ status, body, code, tag: slot.tag as T, atMs: lastAnswerMs })
      stopWhenDrained()
    }
  }

  let settle: (error: unknown, result?: autocannon.Result) => void = () => {}
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    settle = (error, result) => { if (error !== null && error !== undefined) reject(error); else resolve(result!) }
  })
  const instance = autocannon({
    url: base,
    connections,
    ...(options.amount === undefined ? { duration: (options.seconds ?? 10) + drainLimitSeconds } : { amount: options.amount }),
    // Results are taken at autocannon's next sample tick; the default 1 s would idle that long.
    sampleInt: 100,
    ...(options.perSecond !== undefined && { overallRate: options.perSecond }),
    ...(options.timeoutSeconds !== undefined && { timeout: options.timeoutSeconds }),
    // Latencies of 2xx answers only: drains and refusals are not what is measured.
    excludeErrorStats: true,
    requests: [request]
  }, (error, result) => settle(error, result))
  stop = () => instance.stop()
  // A failed request never gets an answer; it is no longer in flight either.
  const failures: Record<string, number> = {}
  instance.on('reqError', (error: NodeJS.ErrnoException) => {
    const code = error.code ?? error.message
    failures[code] = (failures[code] ?? 0) + 1
    inFlight--
    stopWhenDrained()
  })
  const deadline = options.seconds === undefined || options.amount !== undefined
    ? undefined
    : setTimeout(() => { draining = true; stopWhenDrained() }, options.seconds * 1000)

  let result: autocannon.Result
  try {
    result = await finished
  } finally {
    clearTimeout(deadline)
  }
  const answered = Object.values(statuses).reduce((sum, count) => sum + count, 0)
  const ok = Object.entries(statuses).filter(([key]) => key.startsWith('2')).reduce((sum, [, count]) => sum + count, 0)
  const elapsed = lastAnswerMs / 1000
  return {
    connections,
    requests: answered,
    seconds: round(elapsed, 3),
    ok,
    okPerSecond: elapsed > 0 ? round(ok / elapsed, 1) : 0,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    non2xx: answered - ok,
    errors: result.errors,
    timeouts: result.timeouts,
    statuses,
    failures
  }
}

