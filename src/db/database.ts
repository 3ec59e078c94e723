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
}

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

export function createPool (options: DatabaseOptions): pg.Pool {
  const url = new URL(options.url)
  // The URL's sslmode is dbmate's too; pg gets an explicit ssl setting instead, so that PGSSL and
  // sslmode agree. Certificates are verified only with sslmode=verify-full.
  const sslmode = url.searchParams.get('sslmode') ?? 'disable'
  url.searchParams.delete('sslmode')
  const ssl = options.ssl === true || ['require', 'verify-ca', 'verify-full'].includes(sslmode)
    ? { rejectUnauthorized: sslmode === 'verify-full' }
    : undefined
  const pool = new pg.Pool({
    connectionString: url.toString(),
    ssl,
    max: options.poolMax ?? 10,
    application_name: options.applicationName ?? 'booking-api',
    // A request never waits forever: for a connection, a lock, or a statement.
    connectionTimeoutMillis: 5_000,
    lock_timeout: 5_000,
    statement_timeout: 15_000,
    idle_in_transaction_session_timeout: 15_000
  })
  // An idle connection that the server drops (a restart, say) is replaced by the pool; without a
  // listener its error would crash the process.
  pool.on('error', () => {})
  return pool
}

export function createDatabase (options: DatabaseOptions): { db: Database, pool: pg.Pool } {
  const pool = createPool(options)
  return { db: new Kysely<DB>({ dialect: new PostgresDialect({ pool }) }), pool }
}

/** Creates database `name` on the server of `adminUrl` unless it exists. */
export async function ensureDatabase (adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    if (rowCount === 0) await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`)
  } finally {
    await client.end()
  }
}
