import { once } from 'node:events'
import { createServer } from 'node:net'
import { Worker } from 'node:worker_threads'
import t, { type Test } from 'tap'
import { freePort } from '../src/db/embedded.ts'
import { startManagementPort, type ManagementLog, type ManagementPortOptions } from '../src/management/management-port.ts'
import { testApp } from './helpers/app.ts'
import { freshDatabaseUrl } from './helpers/database.ts'
import { startServerProcess } from './helpers/server-process.ts'

const unreachable = 'postgres://nobody@127.0.0.1:1/nowhere'

interface Logged { level: 'warn' | 'error', details: object, message: string }

/** A management port on a free port of 127.0.0.1, stopped when `t` ends, with what it logged. */
async function managementPort (t: Test, options: Partial<ManagementPortOptions> & { url: string }) {
  const logged: Logged[] = []
  const log: ManagementLog = {
    warn: (details, message) => { logged.push({ level: 'warn', details, message }) },
    error: (details, message) => { logged.push({ level: 'error', details, message }) }
  }
  const { url, ...rest } = options
  const port = await startManagementPort({ port: 0, host: '127.0.0.1', database: { url }, log, ...rest })
  t.teardown(async () => { await port.stop() })
  return { port, logged, base: `http://127.0.0.1:${port.port}` }
}

interface Answer { status: number, contentType: string, retryAfter: string | null, body: any }

async function get (url: string, method = 'GET'): Promise<Answer> {
  const response = await fetch(url, { method })
  const text = await response.text()
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    retryAfter: response.headers.get('retry-after'),
    body: text === '' ? undefined : JSON.parse(text)
  }
}

/**
 * Polls `url` from a thread of its own (so that the main thread's busy loop cannot delay it) and
 * says when each answer came and how long it took.
 */
async function startPoller (url: string) {
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads')
    let stopping = false
    const answers = []
    parentPort.once('message', () => { stopping = true })
    ;(async () => {
      while (!stopping) {
        const sent = Date.now()
        const response = await fetch(workerData.url)
        const body = await response.json()
        answers.push({ status: response.status, detail: body.detail, sent, at: Date.now() })
        if (answers.length === 1) parentPort.postMessage('polling')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      parentPort.postMessage(answers)
    })()
  `, { eval: true, workerData: { url } })
  await once(worker, 'message')
  return {
    stop: async (): Promise<Array<{ status: number, detail?: string, sent: number, at: number }>> => {
      const answers = once(worker, 'message')
      worker.postMessage('stop')
      const [seen] = await answers
      await worker.terminate()
      return seen
    }
  }
}

/** Keeps the main thread's event loop from turning for `ms`. */
function busyLoop (ms: number): { from: number, to: number } {
  const from = Date.now()
  while (Date.now() - from < ms) { /* busy */ }
  return { from, to: Date.now() }
}

t.test('the management port answers /health and /ready as the main port does', async (t) => {
  const { app, url } = await testApp(t)
  const { port, base } = await managementPort(t, { url })
  port.serving()
  for (const path of ['/health', '/ready']) {
    const main = await app.inject(path)
    const management = await get(`${base}${path}`)
    t.equal(management.status, main.statusCode, `${path}: status`)
    t.equal(management.contentType, main.headers['content-type'], `${path}: content type`)
    t.same(management.body, main.json(), `${path}: body`)
  }
  t.equal((await get(`${base}/health`, 'HEAD')).status, 200, 'HEAD too')
  t.equal((await get(`${base}/ready/?probe=1`)).status, 200, 'a trailing slash and a query change nothing')

  const unknown = await get(`${base}/metrics`)
  t.match(unknown, { status: 404, contentType: 'application/problem+json; charset=utf-8', body: { code: 'route_not_found', instance: '/metrics' } })
  const post = await fetch(`${base}/health`, { method: 'POST' })
  t.equal(post.status, 405)
  t.equal(post.headers.get('allow'), 'GET, HEAD')
  t.match(await post.json(), { code: 'method_not_allowed' })
})

t.test('/ready on the management port is 503 until the main port listens', async (t) => {
  const { port, base } = await managementPort(t, { url: await freshDatabaseUrl() })
  t.match(await get(`${base}/ready`), {
    status: 503,
    contentType: 'application/problem+json; charset=utf-8',
    retryAfter: '1',
    body: { status: 503, code: 'service_unavailable', detail: 'The server is starting', instance: '/ready' }
  })
  t.equal((await get(`${base}/health`)).status, 200, 'alive meanwhile')
  port.serving()
  t.equal((await get(`${base}/ready`)).status, 200)
})

t.test('/ready on the management port is 503 from the moment draining begins, while /health stays 200', async (t) => {
  const { app, url } = await testApp(t)
  const { port, base } = await managementPort(t, { url })
  port.serving()
  app.lifecycle.onDraining(port.draining)
  t.equal((await get(`${base}/ready`)).status, 200)
  app.lifecycle.startDraining()
  const main = await app.inject('/ready')
  const management = await get(`${base}/ready`)
  t.match(management, { status: 503, retryAfter: '1', body: { code: 'service_unavailable', detail: 'The server is shutting down' } })
  t.same(management.body, main.json(), 'the main port says the same')
  port.serving()
  t.equal((await get(`${base}/ready`)).status, 503, 'a shutdown once begun is never undone')
  t.equal((await get(`${base}/health`)).status, 200)
})

t.test('/ready on the management port is 503 while the database does not answer, and says so in the log', async (t) => {
  const { port, base, logged } = await managementPort(t, { url: unreachable })
  port.serving()
  t.match(await get(`${base}/ready`), { status: 503, body: { code: 'service_unavailable', detail: 'The database is not answering' } })
  t.equal((await get(`${base}/health`)).status, 200, 'the process is alive all the same')
  // The thread's log line crosses to the main thread as a message.
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.match(logged, [{ level: 'warn', message: 'readiness check: database not answering', details: { err: { code: 'ECONNREFUSED' } } }])
})

t.test('/health on the management port answers within 100 ms while the main thread is busy', async (t) => {
  const { port, base } = await managementPort(t, { url: await freshDatabaseUrl() })
  port.serving()
  for (const path of ['/health', '/ready']) {
    const poller = await startPoller(`${base}${path}`)
    const busy = busyLoop(500)
    const answers = await poller.stop()
    const during = answers.filter(({ sent, at }) => sent >= busy.from && at <= busy.to)
    t.ok(during.length >= 3, `${path}: ${during.length} answers came while the main thread was busy`)
    t.ok(during.every(({ status }) => status === 200), `${path}: every one of them 200`)
    t.ok(during.every(({ sent, at }) => at - sent <= 100), `${path}: each within 100 ms`)
  }
})

t.test('/health and /ready on the management port answer 503 once the main thread has not run for the bound, and 200 once it runs again', async (t) => {
  const staleAfterMs = 300
  const { port, base } = await managementPort(t, { url: await freshDatabaseUrl(), staleAfterMs })
  port.serving()
  for (const path of ['/health', '/ready']) {
    const poller = await startPoller(`${base}${path}`)
    const busy = busyLoop(900)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const answers = await poller.stop()
    const during = answers.filter(({ sent, at }) => sent >= busy.from && at <= busy.to)
    // The last heartbeat before the busy loop may be up to 100 ms older than its start.
    const early = during.filter(({ sent }) => sent < busy.from + staleAfterMs - 150)
    const stale = during.filter(({ sent }) => sent > busy.from + staleAfterMs + 100)
    t.ok(early.length > 0 && early.every(({ status }) => status === 200), `${path}: 200 while the heartbeat is fresh`)
    t.ok(stale.length > 0 && stale.every(({ status }) => status === 503), `${path}: 503 once it is older than ${staleAfterMs} ms`)
    t.match(stale[0]?.detail, /^The main thread has not run for \d+ ms$/)
    t.equal(answers.at(-1)?.status, 200, `${path}: 200 again once the main thread runs`)
  }
})

t.test('a management port that cannot be opened fails the start with a message naming it', async (t) => {
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { taken.close() })
  const { port } = taken.address() as { port: number }
  await t.rejects(
    startManagementPort({ port, host: '127.0.0.1', database: { url: unreachable }, log: { warn: () => {}, error: () => {} } }),
    { message: new RegExp(`^the management port 127.0.0.1:${port} could not be opened: .*EADDRINUSE`) }
  )
})

t.test('stopping the management port closes it and ends its thread, unlogged', async (t) => {
  const { port, base, logged } = await managementPort(t, { url: await freshDatabaseUrl() })
  t.equal((await get(`${base}/health`)).status, 200)
  await port.stop()
  await t.rejects(fetch(`${base}/health`), 'nothing listens any more')
  t.same(logged, [], 'a requested stop is not an unexpected exit')
})

t.test('a server process with MANAGEMENT_PORT answers there, reports not ready there as soon as it drains, and closes it at exit', async (t) => {
  const managementPort = await freePort()
  const base = `http://127.0.0.1:${managementPort}`
  const server = await startServerProcess(t, {
    databaseUrl: await freshDatabaseUrl(),
    env: { MANAGEMENT_PORT: String(managementPort), MANAGEMENT_HOST: '127.0.0.1', LOG_LEVEL: 'info' }
  })
  t.equal((await get(`${base}/health`)).status, 200)
  t.equal((await get(`${base}/ready`)).status, 200, 'ready once the main port listens')

  server.kill('SIGTERM')
  const signalled = Date.now()
  let unready: Answer | undefined
  while (unready === undefined && server.exit() === undefined) {
    const answer = await get(`${base}/ready`).catch(() => undefined)
    if (answer?.status === 503) unready = answer
    else await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.match(unready, { body: { code: 'service_unavailable', detail: 'The server is shutting down' } }, 'not ready while draining')
  t.ok(Date.now() - signalled < 1_000, 'within the drain')
  t.equal((await get(`${base}/health`)).status, 200, 'alive while draining')

  t.match(await server.waitForExit(15_000), { code: 0 })
  await t.rejects(fetch(`${base}/health`), 'the management port closed with the process')
  t.match(server.stdout(), /management port answering \/health and \/ready/)
  t.notMatch(server.output(), /management port's thread/, 'no thread failure logged')
})
