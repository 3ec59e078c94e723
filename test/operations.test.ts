import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { sql } from 'kysely'
import t from 'tap'
import { buildApp } from '../src/app.ts'
import { createDatabase } from '../src/db/database.ts'
import { dbmate, pendingMigrations, shippedMigrationVersions } from '../src/db/migrations.ts'
import { readinessCheck } from '../src/db/readiness.ts'
import { adminToken, sleep, testApp } from './helpers/app.ts'
import { freshDatabaseUrl } from './helpers/database.ts'

const engine = { holdSeconds: 120, maxHoldSeconds: 900, maxSeatsPerBooking: 10, maxSeatsPerShow: 100_000 }

t.test('/health answers without touching the database', async (t) => {
  const { db } = createDatabase({ url: 'postgres://nobody@127.0.0.1:1/nowhere' })
  const app = await buildApp({ db, adminToken, engine, pendingMigrations: async () => await pendingMigrations(db) })
  t.teardown(async () => { await app.close(); await db.destroy() })
  const health = await app.inject('/health')
  t.equal(health.statusCode, 200)
  t.same(health.json(), { status: 'ok' })

  const ready = await app.inject('/ready')
  t.equal(ready.statusCode, 503, 'not ready while the database does not answer')
  t.match(ready.headers['content-type'], /^application\/problem\+json/)
  t.match(ready.json(), { status: 503, code: 'service_unavailable' })
})

t.test('/ready is 503 until every migration is applied, then 200', async (t) => {
  const url = await freshDatabaseUrl({ migrated: false })
  const { db } = createDatabase({ url })
  const app = await buildApp({ db, adminToken, engine, pendingMigrations: async () => await pendingMigrations(db) })
  t.teardown(async () => { await app.close(); await db.destroy() })

  const before = await app.inject('/ready')
  t.equal(before.statusCode, 503)
  t.match(before.json(), { code: 'service_unavailable', detail: new RegExp(`Migrations pending: ${shippedMigrationVersions()[0]}`) })

  await dbmate(url, ['up'])
  const after = await app.inject('/ready')
  t.equal(after.statusCode, 200)
  t.same(after.json(), { status: 'ready' })
})

t.test('unknown routes answer a problem', async (t) => {
  const { app } = await testApp(t)
  const response = await app.inject('/nope')
  t.equal(response.statusCode, 404)
  t.match(response.headers['content-type'], /^application\/problem\+json/)
  t.match(response.json(), { code: 'route_not_found', status: 404, type: '/problems/route_not_found' })
})

t.test('every problem response of the document shows an example of each code it names, with its own status', async (t) => {
  const { app } = await testApp(t)
  const document = (await app.inject('/docs/json')).json()
  let checked = 0
  for (const [path, operations] of Object.entries<Record<string, { responses: Record<string, { description: string, content?: Record<string, { examples?: Record<string, { value: { code: string, status: number } }> }> }> }>>(document.paths)) {
    for (const [method, { responses }] of Object.entries(operations)) {
      for (const [status, response] of Object.entries(responses)) {
        const media = response.content?.['application/problem+json']
        if (media === undefined) continue
        const examples = Object.values(media.examples ?? {})
        t.ok(examples.length > 0, `${method} ${path} ${status} has examples`)
        for (const { value } of examples) {
          t.equal(String(value.status), status, `${method} ${path} ${status}: ${value.code}`)
          t.match(response.description, value.code)
          checked++
        }
      }
    }
  }
  t.ok(checked > 50)
})

t.test('openapi.yaml reads the same to a YAML 1.1 reader: no example becomes a date', async (t) => {
  const text = readFileSync(fileURLToPath(new URL('../openapi.yaml', import.meta.url)), 'utf8')
  const dates: string[] = []
  const pending: unknown[] = [parse(text, { version: '1.1' })]
  while (pending.length > 0) {
    const value = pending.pop()
    if (value instanceof Date) dates.push(value.toISOString())
    else if (value !== null && typeof value === 'object') pending.push(...Object.values(value))
  }
  t.same(dates, [])
  t.same(parse(text, { version: '1.1' }), parse(text), 'YAML 1.1 and 1.2 readers load the same document')
})

t.test('the OpenAPI document is served at /docs/json', async (t) => {
  const { app } = await testApp(t)
  const response = await app.inject('/docs/json')
  t.equal(response.statusCode, 200)
  const document = response.json()
  t.equal(document.openapi, '3.1.0')
  t.ok(document.components.schemas.Booking, 'Booking is a named component')
  t.ok(document.components.schemas.Problem, 'Problem is a named component')
  const docs = await app.inject('/docs/')
  t.equal(docs.statusCode, 200)
  t.match(docs.headers['content-type'], /text\/html/)
})

t.test('while draining for a shutdown, requests are still served but /ready says 503 and connections close', async (t) => {
  const { app } = await testApp(t)
  t.equal((await app.inject('/ready')).statusCode, 200)
  app.lifecycle.startDraining()
  const ready = await app.inject('/ready')
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { code: 'service_unavailable', detail: 'The server is shutting down' })
  const health = await app.inject('/health')
  t.equal(health.statusCode, 200, 'the process is still alive')
  t.equal(health.headers.connection, 'close', 'keep-alive clients move on')
  t.equal((await app.inject('/shows')).statusCode, 200, 'requests are still served')
})

t.test('the readiness check remembers a ready database for a second, and never a failure', async (t) => {
  const { db } = await testApp(t)
  const check = readinessCheck(db, 1_000)
  t.same(await check(), [], 'ready')
  // The database no longer shows its migrations: a second ago it was ready, so it still is.
  await sql`ALTER TABLE schema_migrations RENAME TO schema_migrations_gone`.execute(db)
  t.same(await Promise.all([check(), check()]), [[], []], 'within the second, without a query')
  await sleep(1_100)
  t.same(await check(), shippedMigrationVersions(), 'after it, the database is asked again')
  t.same(await check(), shippedMigrationVersions(), 'and a database that is not ready is not remembered')
  await sql`ALTER TABLE schema_migrations_gone RENAME TO schema_migrations`.execute(db)
  t.same(await check(), [], 'ready again once the database answers')
})

t.test('what answers readiness elsewhere hears when draining begins, once, and at once if it already has', async (t) => {
  const { app } = await testApp(t)
  const heard: string[] = []
  app.lifecycle.onDraining(() => heard.push('early'))
  t.same(heard, [], 'not while serving')
  app.lifecycle.startDraining()
  app.lifecycle.startDraining()
  app.lifecycle.onDraining(() => heard.push('late'))
  t.same(heard, ['early', 'late'])
})
