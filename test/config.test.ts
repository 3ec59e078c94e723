import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { configuredDatabaseUrl } from '../src/db/database.ts'

t.test('defaults match the contract', async (t) => {
  const config = loadConfig({}, false)
  t.match(config, {
    PORT: 3000,
    HOST: '0.0.0.0',
    PGSSL: false,
    PGPOOL_MAX: 20,
    HOLD_WINDOW_SECONDS: 120,
    MAX_HOLD_SECONDS: 900,
    EXPIRY_JOB_INTERVAL_SECONDS: 15,
    MAX_SEATS_PER_BOOKING: 10,
    MAX_SEATS_PER_SHOW: 100000,
    LOG_LEVEL: 'info'
  })
  t.equal(config.ADMIN_TOKEN_GENERATED, true)
  t.ok(config.ADMIN_TOKEN.length >= 32, 'a random token is made when ADMIN_TOKEN is unset')
  t.not(loadConfig({}, false).ADMIN_TOKEN, config.ADMIN_TOKEN)
  t.equal(loadConfig({ ADMIN_TOKEN: 'a-long-enough-admin-token' }, false).ADMIN_TOKEN_GENERATED, false)
  t.equal(config.ADMISSION_TTL_SECONDS, 600)
  t.equal(config.WAITING_ROOM_SECRET_GENERATED, true)
  t.ok(config.WAITING_ROOM_SECRET.length >= 32, 'a random secret is made when WAITING_ROOM_SECRET is unset')
  t.match(loadConfig({ WAITING_ROOM_SECRET: 'x'.repeat(32) }, false), { WAITING_ROOM_SECRET: 'x'.repeat(32), WAITING_ROOM_SECRET_GENERATED: false })
})

t.test('values are read and converted', async (t) => {
  const config = loadConfig({ PORT: '8080', PGSSL: 'true', HOLD_WINDOW_SECONDS: '30', LOG_LEVEL: 'warn' }, false)
  t.match(config, { PORT: 8080, PGSSL: true, HOLD_WINDOW_SECONDS: 30, LOG_LEVEL: 'warn' })
})

t.test('a bad value names its variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /PORT must be integer/],
    [{ PORT: '70000' }, /PORT must be <= 65535/],
    [{ HOLD_WINDOW_SECONDS: '0' }, /HOLD_WINDOW_SECONDS must be >= 1/],
    [{ EXPIRY_JOB_INTERVAL_SECONDS: '-5' }, /EXPIRY_JOB_INTERVAL_SECONDS/],
    [{ PGSSL: 'maybe' }, /PGSSL must be boolean/],
    [{ PGPOOL_MAX: '0' }, /PGPOOL_MAX/],
    [{ MAX_SEATS_PER_BOOKING: 'ten' }, /MAX_SEATS_PER_BOOKING/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    [{ ADMIN_TOKEN: 'short' }, /ADMIN_TOKEN/],
    [{ MAX_HOLD_SECONDS: '0' }, /MAX_HOLD_SECONDS must be >= 1/],
    [{ HOLD_WINDOW_SECONDS: '600', MAX_HOLD_SECONDS: '300' }, /MAX_HOLD_SECONDS \(300\) must be at least HOLD_WINDOW_SECONDS \(600\)/],
    [{ WAITING_ROOM_SECRET: 'short' }, /WAITING_ROOM_SECRET/],
    [{ ADMISSION_TTL_SECONDS: '0' }, /ADMISSION_TTL_SECONDS must be >= 1/]
  ]
  for (const [env, message] of cases) t.throws(() => loadConfig(env, false), message, JSON.stringify(env))
})

t.test('the management port is off unless set, listens on HOST unless told otherwise, and needs a single process', async (t) => {
  t.equal(loadConfig({}, false).MANAGEMENT_PORT, undefined, 'off by default')
  t.match(loadConfig({ MANAGEMENT_PORT: '9000', HOST: '10.0.0.5' }, false), { MANAGEMENT_PORT: 9000, MANAGEMENT_HOST: '10.0.0.5' })
  t.match(loadConfig({ MANAGEMENT_PORT: '9000', MANAGEMENT_HOST: '127.0.0.1' }, false), { MANAGEMENT_HOST: '127.0.0.1' })
  t.throws(() => loadConfig({ MANAGEMENT_PORT: '9000', WORKERS: '2' }, false), /MANAGEMENT_PORT needs WORKERS=1/)
  t.throws(() => loadConfig({ MANAGEMENT_PORT: '3000' }, false), /MANAGEMENT_PORT must differ from PORT/)
  t.throws(() => loadConfig({ MANAGEMENT_PORT: '0' }, false), /MANAGEMENT_PORT must be >= 1/)
  t.equal(loadConfig({ WORKERS: '2' }, false).WORKERS, 2, 'a cluster without the management port is fine')
})

t.test('the database URL comes from DATABASE_URL or the PG* variables', async (t) => {
  t.equal(configuredDatabaseUrl(loadConfig({}, false)), undefined, 'neither: the embedded database')
  t.equal(configuredDatabaseUrl(loadConfig({ DATABASE_URL: 'postgres://a@b/c' }, false)), 'postgres://a@b/c')
  t.equal(
    configuredDatabaseUrl(loadConfig({ PGHOST: 'db.internal', PGPORT: '6432', PGUSER: 'app', PGPASSWORD: 'p@ss word', PGDATABASE: 'booking', PGSSL: 'true' }, false)),
    'postgres://app:p%40ss%20word@db.internal:6432/booking?sslmode=require'
  )
})

t.test('the server refuses to start on a bad value and says which', async (t) => {
  const server = fileURLToPath(new URL('../src/main.ts', import.meta.url))
  // Not under tap's coverage: that child would load the sources through another loader.
  const { NODE_OPTIONS: _options, NODE_V8_COVERAGE: _coverage, ...env } = process.env
  const result = spawnSync(process.execPath, ['--import=tsx', server], {
    env: { ...env, HOLD_WINDOW_SECONDS: '0', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' },
    encoding: 'utf8',
    timeout: 30_000
  })
  t.equal(result.status, 1)
  t.match(result.stderr, /invalid configuration: HOLD_WINDOW_SECONDS must be >= 1/)
})

t.test('CORS_ORIGINS is a list of origins', async (t) => {
  t.same(loadConfig({}, false).CORS_ORIGINS, [], 'none by default')
  t.same(loadConfig({ CORS_ORIGINS: 'https://tickets.example.com, http://localhost:5173' }, false).CORS_ORIGINS, ['https://tickets.example.com', 'http://localhost:5173'])
  t.throws(() => loadConfig({ CORS_ORIGINS: '*' }, false), /CORS_ORIGINS must list origins/)
  t.throws(() => loadConfig({ CORS_ORIGINS: 'https://example.com/path' }, false), /CORS_ORIGINS/)
})

t.test('TRUST_PROXY names whom to believe in X-Forwarded-For', async (t) => {
  t.equal(loadConfig({}, false).TRUST_PROXY, false, 'nobody by default')
  t.equal(loadConfig({ TRUST_PROXY: 'true' }, false).TRUST_PROXY, true)
  t.equal(loadConfig({ TRUST_PROXY: '2' }, false).TRUST_PROXY, 2)
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.7' }, false).TRUST_PROXY, ['10.0.0.0/8', '192.168.1.7'])
  t.throws(() => loadConfig({ TRUST_PROXY: 'yes please' }, false), /TRUST_PROXY must be/)
})
