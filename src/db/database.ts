import { createHash } from 'node:crypto'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { Config } from '../config.ts'
import type { DB } from './types.ts'

export type Database = Kysely<DB>

export interface DatabaseOptions {
  url: string
  ssl?: boolean
  poolMax?: number
  applicationName?: string
  /** Named prepared statements (the default); off for poolers that cannot keep them per connection. */
  preparedStatements?: boolean
  /** Bounds on waiting, in ms; tests shorten them. */
  timeouts?: Partial<Timeouts>
}

export interface Timeouts {
  /** For a connection from the pool (or a new one to the server). */
  connect: number
  /** For a row lock: a hold waiting behind another that never ends. */
  lock: number
  /** For a whole statement. */
  statement: number
}

// A request never waits forever: for a connection, a lock, or a statement. Each ends in a 503
// problem with Retry-After, well before a client or proxy would give up on the socket.
const defaultTimeouts: Timeouts = { connect: 5_000, lock: 5_000, statement: 15_000 }

/**
 * The URL to reach the configured database: DATABASE_URL as given, or one built from the PG*
 * variables. Undefined when neither is set (the embedded database is used then).
 */
export function configuredDatabaseUrl (config: Pick<Config, 'DATABASE_URL' | 'PGHOST' | 'PGPORT' | 'PGUSER' | 'PGPASSWORD' | 'PGDATABASE' | 'PGSSL'>): string | undefined {
  if (config.DATABASE_URL !== undefined) return config.DATABASE_URL
  if (config.PGHOST === undefined) return undefined
  const url = new URL('postgres://localhost')
  url.hostname = config.PGHOST
  if (config.PGPORT !== undefined) url.port = String(config.PGPORT)
  url.username = encodeURIComponent(config.PGUSER ?? 'postgres')
  if (config.PGPASSWORD !== undefined) url.password = encodeURIComponent(config.PGPASSWORD)
  url.pathname = `/${encodeURIComponent(config.PGDATABASE ?? 'postgres')}`
  url.searchParams.set('sslmode', config.PGSSL ? 'require' : 'disable')
  return url.toString()
}

/** The same URL with another database name: tests and codegen make scratch databases this way. */
export function withDatabaseName (url: string, name: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${encodeURIComponent(name)}`
  return parsed.toString()
}

const statementNames = new Map<string, string>()

/**
 * Makes every parameterised query a named prepared statement on its connection, so PostgreSQL
 * parses and plans each of our statements once per connection instead of on every request
 * (planning is a large share of a hold's cost: docs/design.md). The texts come from
 * the code, never from clients, so the set of names stays small.
 */
function prepareStatements (client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown
  client.query = ((text: unknown, values?: unknown, callback?: unknown) => {
    if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0) return query(text, values, callback)
    let name = statementNames.get(text)
    if (name === undefined) {
      name = `q${createHash('sha1').update(text).digest('hex').slice(0, 20)}`
      statementNames.set(text, name)
    }
    return query({ name, text, values }, callback)
  }) as typeof client.query
}

export function createPool (options: DatabaseOptions): pg.Pool {
  const url = new URL(options.url)
  // The URL's sslmode is dbmate's too; pg gets an explicit ssl setting instead, so that PGSSL and
  // sslmode agree. Certificates are verified only with sslmode=verify-full.
  const sslmode = url.searchParams.get('sslmode') ?? 'disable'
  url.searchParams.delete('sslmode')
  const ssl = options.ssl === true || ['require', 'verify-ca', 'verify-full'].includes(sslmode)
    ? { rejectUnauthorized: sslmode === 'verify-full' }
    : undefined
  const timeouts = { ...defaultTimeouts, ...options.timeouts }
  const pool = new pg.Pool({
    connectionString: url.toString(),
    ssl,
    max: options.poolMax ?? 10,
    application_name: options.applicationName ?? 'booking-api',
    connectionTimeoutMillis: timeouts.connect,
    lock_timeout: timeouts.lock,
    statement_timeout: timeouts.statement,
    idle_in_transaction_session_timeout: timeouts.statement
  })
  if (options.preparedStatements !== false) pool.on('connect', prepareStatements)
  // A connection the server kills while a request holds it (a restart, pg_terminate_backend) emits
  // 'error' besides failing its query; the pool listens only while a connection is idle, and an
  // unheard 'error' would crash the process. The query's own error still reaches the request,
  // and the pool drops the connection when it is released.
  pool.on('connect', (client) => { client.on('error', () => {}) })
  // An idle connection that the server drops (a restart, say) is replaced by the pool; without a
  // listener its error would crash the process.
  pool.on('error', () => {})
  return pool
}

/** What a pool is doing: connections open, idle, and requests waiting for one. */
export interface PoolStats {
  total: number
  idle: number
  waiting: number
}

export function poolStats (pool: pg.Pool): PoolStats {
  return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }
}

export function createDatabase (options: DatabaseOptions): { db: Database, pool: pg.Pool } {
  const pool = createPool(options)
  return { db: new Kysely<DB>({ dialect: new PostgresDialect({ pool }) }), pool }
}

/** Runs `run` on a single connection to `url`, closed afterwards. */
export async function withClient<T> (url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.end()
  }
}

const quoted = (name: string): string => `"${name.replaceAll('"', '""')}"`

/** Creates database `name` on the server of `adminUrl` unless it exists. */
export async function ensureDatabase (adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    if (rowCount === 0) await client.query(`CREATE DATABASE ${quoted(name)}`)
  })
}

/** Drops database `name` on the server of `adminUrl`, ending its connections. */
export async function dropDatabase (adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, async (client) => await client.query(`DROP DATABASE IF EXISTS ${quoted(name)} WITH (FORCE)`))
}
