import { spawn } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import t from 'tap'
import { freePort } from '../src/db/embedded.ts'
import { freshDatabaseUrl } from './helpers/database.ts'

const serverPath = fileURLToPath(new URL('../src/main.ts', import.meta.url))

t.test('the server process serves, logs its generated admin token once, and stops gracefully on SIGTERM', async (t) => {
  const url = await freshDatabaseUrl()
  const port = await freePort()
  // Not under tap's coverage: that child would load the sources through another loader.
  const { NODE_OPTIONS: _options, NODE_V8_COVERAGE: _coverage, ADMIN_TOKEN: _token, ...env } = process.env
  const server = spawn(process.execPath, ['--import=tsx', serverPath], {
    env: { ...env, DATABASE_URL: url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', EXPIRY_JOB_INTERVAL_SECONDS: '1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  server.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  server.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  t.teardown(() => { server.kill('SIGKILL') })

  const deadline = Date.now() + 30_000
  while (!output.includes('Server listening') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  t.match(output, /Server listening/, 'it listens')
  const tokens = [...output.matchAll(/this process made one: (\S+?)"/g)].map((match) => match[1])
  t.equal(tokens.length, 1, 'the generated admin token is logged once')
  const base = `http://127.0.0.1:${port}`

  t.same(await (await fetch(`${base}/health`)).json(), { status: 'ok' })
  t.same(await (await fetch(`${base}/ready`)).json(), { status: 'ready' })
  const created = await fetch(`${base}/admin/shows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens[0]}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Live', start_time: new Date(Date.now() + 3600_000).toISOString(), total_seats: 100_000 })
  })
  t.equal(created.status, 201, 'the generated token opens the admin API')
  const show = await created.json() as { id: string }

  // A request in flight when SIGTERM arrives still gets its whole answer, even when its client
  // reads it slowly: this one reads nothing until the server has stopped listening.
  const inFlight = new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get(`${base}/shows/${show.id}/seats`, resolve).on('error', reject)
  })
  await new Promise((resolve) => setTimeout(resolve, 5))
  const exited = once(server, 'exit')
  server.kill('SIGTERM')
  const response = await inFlight
  response.pause()
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal(response.statusCode, 200)
  const chunks: Buffer[] = []
  for await (const chunk of response) chunks.push(chunk as Buffer)
  const body = Buffer.concat(chunks)
  t.equal(body.length, Number(response.headers['content-length']), 'the whole body arrived')
  t.equal((JSON.parse(body.toString()) as { items: unknown[] }).items.length, 100_000)
  const [code] = await exited
  t.equal(code, 0, 'exits cleanly')
  t.match(output, /shutting down/)
  t.notMatch(output, new RegExp(`Bearer ${tokens[0]}`), 'the token is never logged from a request')
})

t.test('/ready answers at once while every pooled connection is busy: it has a connection of its own', async (t) => {
  const url = await freshDatabaseUrl()
  const port = await freePort()
  const { NODE_OPTIONS: _options, NODE_V8_COVERAGE: _coverage, ...env } = process.env
  const token = 'ready-test-admin-token-0123456789'
  const server = spawn(process.execPath, ['--import=tsx', serverPath], {
    env: { ...env, DATABASE_URL: url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ADMIN_TOKEN: token, PGPOOL_MAX: '1', OVERLOAD_MAX_QUEUE: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { server.kill('SIGKILL') })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && await fetch(`${base}/health`).then(() => false, () => true)) await new Promise((resolve) => setTimeout(resolve, 100))
  const created = await fetch(`${base}/admin/shows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Busy', start_time: new Date(Date.now() + 3600_000).toISOString(), total_seats: 10 })
  })
  const show = await created.json() as { id: string }

  // The pool's one connection waits for a seat another session has locked.
  const other = new pg.Client({ connectionString: url })
  await other.connect()
  t.teardown(async () => { await other.end() })
  await other.query('BEGIN')
  await other.query('SELECT 1 FROM seats WHERE show_id = $1 AND label = $2 FOR UPDATE', [show.id, '1'])
  const stuck = fetch(`${base}/bookings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ show_id: show.id, seats: ['1'] }) })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const started = performance.now()
  const ready = await fetch(`${base}/ready`)
  const ms = Math.round(performance.now() - started)
  t.equal(ready.status, 200)
  t.ok(ms < 1000, `in ${ms} ms`)
  await other.query('ROLLBACK')
  t.equal((await stuck).status, 201)
})
