import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { freshDatabaseUrl } from './helpers/database.ts'

const script = fileURLToPath(new URL('../scripts/migrate.ts', import.meta.url))

/** `make migrate`'s command with only `env` for configuration (no .env, no inherited PG* or DATABASE_URL). */
function migrate (env: Record<string, string>, ...args: string[]) {
  const { NODE_OPTIONS: _options, NODE_V8_COVERAGE: _coverage, DATABASE_URL: _url, PGHOST: _host, PGSSL: _ssl, ...inherited } = process.env
  return spawnSync(process.execPath, ['--import=tsx', script, ...args], { env: { ...inherited, ...env }, encoding: 'utf8', timeout: 60_000 })
}

t.test('make migrate needs only the database settings: a bad PORT or a short ADMIN_TOKEN does not block it', async (t) => {
  const url = await freshDatabaseUrl({ migrated: false })
  const result = migrate({ DATABASE_URL: url, PORT: 'not-a-port', ADMIN_TOKEN: 'x' }, 'up')
  t.equal(result.status, 0, result.stderr)
  t.match(migrate({ DATABASE_URL: url }, 'status').stdout, /Pending: 0/)
})

t.test('an unknown host or a missing database fails with one line that says what to do', async (t) => {
  const url = new URL(await freshDatabaseUrl({ migrated: false }))
  url.pathname = '/no_such_database_here'
  const missing = migrate({ DATABASE_URL: url.toString() }, 'up')
  t.equal(missing.status, 1)
  t.equal(missing.stderr, `database no_such_database_here does not exist on ${url.hostname}:${url.port || '5432'}: create it with  createdb -h ${url.hostname} -p ${url.port || '5432'} -U ${decodeURIComponent(url.username) || 'postgres'} no_such_database_here\n`)

  const unknown = migrate({ DATABASE_URL: 'postgres://postgres@no-such-host.invalid/booking' }, 'up')
  t.equal(unknown.status, 1)
  t.equal(unknown.stderr, 'unknown host no-such-host.invalid: check DATABASE_URL or PGHOST\n')
})

t.test('PGSSL=true makes the migration use TLS too', async (t) => {
  // The test server speaks no TLS, so a migration that honours PGSSL cannot connect to it.
  const url = await freshDatabaseUrl({ migrated: false })
  const result = migrate({ DATABASE_URL: url, PGSSL: 'true' }, 'up')
  t.equal(result.status, 1)
  t.match(result.stderr, /does not support SSL|SSL/)
})
