import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { buildApp } from '../src/app.ts'
import { createDatabase } from '../src/db/database.ts'
import { loggerOptions } from '../src/logger-options.ts'
import { admin, adminToken, createShow, holdOk, testApp } from './helpers/app.ts'
import { freshDatabaseUrl } from './helpers/database.ts'

t.test('every admin route refuses every call without the right token', async (t) => {
  const { app } = await testApp(t)
  await app.ready()
  const paths = (app.swagger() as { paths: Record<string, Record<string, unknown>> }).paths
  const routes = Object.entries(paths).filter(([path]) => path.startsWith('/admin'))
    .flatMap(([path, operations]) => Object.keys(operations).map((method) => ({ method: method.toUpperCase(), path })))
  t.ok(routes.length >= 3, `found the admin routes in the document: ${routes.map((r) => `${r.method} ${r.path}`).join(', ')}`)
  const wrong = [
    {},
    { authorization: '' },
    { authorization: `Bearer ${adminToken}x` },
    { authorization: `Bearer ${adminToken.slice(0, -1)}` },
    { authorization: `bearer${adminToken}` },
    { authorization: `Basic ${Buffer.from(`admin:${adminToken}`).toString('base64')}` },
    { authorization: adminToken },
    { 'x-admin-token': adminToken }
  ]
  for (const { method, path } of routes) {
    const url = path.replace('{id}', '0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10')
    for (const headers of wrong) {
      const response = await app.inject({ method: method as 'GET' | 'POST', url, headers, ...(method === 'POST' && { payload: { name: 'x' } }) })
      t.equal(response.statusCode, 401, `${method} ${path} with ${JSON.stringify(headers)}`)
      t.equal(response.json().code, 'unauthorized')
    }
  }
})

t.test('booking ids are random version 4 UUIDs, not guessable from one another', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 300 })
  const ids: string[] = []
  for (let i = 0; i < 200; i++) ids.push((await holdOk(app, { show_id: show.id, quantity: 1 })).id)
  t.ok(ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)), 'UUID v4: 122 random bits')
  t.equal(new Set(ids).size, ids.length)
  // Time-ordered ids (v1, v7, sequences) would rise with creation order.
  const rising = ids.slice(1).filter((id, i) => id > ids[i]!).length
  t.ok(rising > 60 && rising < 140, `creation order does not show in the ids (${rising} of 199 rose)`)
})

t.test('answers carry security headers; the API denies all content, /docs allows only its own', async (t) => {
  const { app } = await testApp(t)
  const api = await app.inject('/health')
  t.equal(api.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'")
  t.equal(api.headers['x-content-type-options'], 'nosniff')
  t.equal(api.headers['x-frame-options'], 'SAMEORIGIN')
  t.equal(api.headers['referrer-policy'], 'no-referrer')
  t.equal(api.headers['x-powered-by'], undefined)
  const problem = await app.inject('/nowhere')
  t.equal(problem.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'", 'problems too')

  const docs = await app.inject('/docs/static/index.html')
  const csp = String(docs.headers['content-security-policy'])
  t.match(csp, /script-src 'self'/, 'Swagger UI runs its own scripts')
  t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'and nothing injected')
  t.notMatch(csp, /upgrade-insecure-requests/, 'and works over plain HTTP')
})

t.test('CORS: no cross-origin access unless CORS_ORIGINS lists the origin', async (t) => {
  const preflight = { method: 'OPTIONS' as const, url: '/bookings', headers: { origin: 'https://tickets.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,idempotency-key' } }
  const { app: closed } = await testApp(t)
  t.equal((await closed.inject(preflight)).headers['access-control-allow-origin'], undefined, 'none by default')

  const { app } = await testApp(t, { http: { corsOrigins: ['https://tickets.example.com'] } })
  const allowed = await app.inject(preflight)
  t.equal(allowed.statusCode, 204)
  t.equal(allowed.headers['access-control-allow-origin'], 'https://tickets.example.com')
  t.match(allowed.headers['access-control-allow-headers'], /idempotency-key/)
  const other = await app.inject({ ...preflight, headers: { ...preflight.headers, origin: 'https://evil.example.net' } })
  t.equal(other.headers['access-control-allow-origin'], undefined, 'other origins get nothing')
  const simple = await app.inject({ url: '/health', headers: { origin: 'https://tickets.example.com' } })
  t.equal(simple.headers['access-control-allow-origin'], 'https://tickets.example.com')
  for (const headers of [{}, { origin: 'https://tickets.example.com' }]) {
    const incomplete = await app.inject({ method: 'OPTIONS', url: '/bookings', headers })
    t.equal(incomplete.statusCode, 400, 'an incomplete preflight')
    t.equal(incomplete.headers['content-type'], 'application/problem+json; charset=utf-8')
    t.match(incomplete.json(), { code: 'bad_request' })
  }
})

/** Sends `head` as the request's bytes and reads the answer until the server closes the connection. */
async function rawRequest (port: number, head: string): Promise<{ status: number, contentType: string | undefined, body: string }> {
  const socket = connect(port, '127.0.0.1')
  socket.end(head)
  const chunks: Buffer[] = []
  for await (const chunk of socket) chunks.push(chunk as Buffer)
  const [headers = '', body = ''] = Buffer.concat(chunks).toString().split('\r\n\r\n')
  return { status: Number(headers.split(' ')[1]), contentType: /content-type: (.*)/i.exec(headers)?.[1], body }
}

t.test('requests Node refuses before routing are answered as problems too', async (t) => {
  const { app } = await testApp(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const cases = [
    { name: 'headers over 16 KiB', head: `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17_000)}\r\n\r\n`, status: 431, code: 'headers_too_large' },
    { name: 'a control byte in a header', head: 'GET /health HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n', status: 400, code: 'bad_request' },
    { name: 'an unknown method', head: 'FETCH /health HTTP/1.1\r\nHost: x\r\n\r\n', status: 400, code: 'bad_request' }
  ]
  for (const { name, head, status, code } of cases) {
    const answer = await rawRequest(port, head)
    t.equal(answer.status, status, name)
    t.equal(answer.contentType, 'application/problem+json', name)
    t.match(JSON.parse(answer.body), { status, code, type: String, title: String, detail: String }, name)
  }

  // Node raises the request timeout (30 s) as a client error on the connection; the same answer follows.
  const socket = connect(port, '127.0.0.1')
  const server = await once(app.server, 'connection') as [Socket]
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  app.server.emit('clientError', Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), server[0])
  await once(socket, 'close')
  const text = Buffer.concat(chunks).toString()
  t.match(text, /^HTTP\/1.1 408 Request Timeout\r\n/)
  t.match(JSON.parse(text.split('\r\n\r\n')[1] ?? ''), { status: 408, code: 'request_timeout' })
})

t.test('tokens and database passwords never reach the logs, even at trace level', async (t) => {
  let logs = ''
  const stream = new Writable({ write (chunk, _encoding, done) { logs += String(chunk); done() } })
  const dbPassword = 'db-secret-7f3a9c1e5b'
  // A database that refuses connections: its errors are logged, its URL must not be.
  const unreachable = new URL(await freshDatabaseUrl())
  unreachable.password = dbPassword
  unreachable.port = '9'
  const broken = createDatabase({ url: unreachable.toString(), timeouts: { connect: 500 } })
  const working = createDatabase({ url: await freshDatabaseUrl() })
  t.teardown(async () => { await broken.db.destroy(); await working.db.destroy() })
  const engine = { holdSeconds: 120, maxHoldSeconds: 900, maxSeatsPerBooking: 10, maxSeatsPerShow: 1000 }
  const apps = await Promise.all([broken, working].map(async ({ db }) => await buildApp({
    db, engine, adminToken, pendingMigrations: async () => [], logger: loggerOptions('trace', stream)
  })))
  t.teardown(async () => { await Promise.all(apps.map(async (app) => await app.close())) })

  for (const app of apps) {
    await app.inject({ url: '/admin/shows', headers: admin })
    await app.inject({ url: '/admin/shows', headers: { authorization: 'Bearer wrong-token-4d1c8e2b9a' } })
    await app.inject({ method: 'POST', url: '/admin/shows', headers: admin, payload: { name: 'Logged?', start_time: new Date(Date.now() + 3600_000).toISOString(), total_seats: 5 } })
    await app.inject({ url: '/shows/0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10', headers: { authorization: `Bearer ${adminToken}`, cookie: `session=${adminToken}` } })
  }
  const [, app] = apps
  const show = (await app!.inject({ method: 'POST', url: '/admin/shows', headers: admin, payload: { name: 'Logged', start_time: new Date(Date.now() + 3600_000).toISOString(), total_seats: 5 } })).json()
  const booking = (await app!.inject({ method: 'POST', url: '/bookings', payload: { show_id: show.id, quantity: 1 } })).json()
  await app!.inject(`/bookings/${booking.id}`)
  await app!.inject({ method: 'POST', url: `/bookings/${booking.id}/confirm` })
  t.match(logs, /"url":"\/bookings\/\[redacted\]\/confirm"/, 'booking routes are logged without their id')
  t.notOk(logs.includes(booking.id), 'no booking id: it is what lets its holder confirm or cancel')
  t.match(logs, /request failed|incoming request/, 'requests and failures were logged')
  t.notOk(logs.includes(adminToken), 'no admin token')
  t.notOk(logs.includes('wrong-token-4d1c8e2b9a'), 'no wrong token either')
  t.notOk(logs.includes(dbPassword), 'no database password')
})

t.test('.env is never committed', async (t) => {
  const ignored = readFileSync(fileURLToPath(new URL('../.gitignore', import.meta.url)), 'utf8').split('\n').map((line) => line.trim())
  t.ok(ignored.includes('.env'), '.gitignore lists .env')
})
