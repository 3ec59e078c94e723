import { randomBytes } from 'node:crypto'
import { Type, type Static } from '@sinclair/typebox'
import envSchema from 'env-schema'
import { maxSeatsPerBooking, maxSeatsPerShow } from '../api/index.ts'
import { defaultAdmissionSeconds } from './engine/waiting-room/index.ts'

/**
 * The engine's settings when none are configured: the server's defaults, and what scripts and tests
 * mean by "as the server runs by default".
 */
export const defaultEngineSettings = { holdSeconds: 120, maxHoldSeconds: 900, maxSeatsPerBooking: 10, maxSeatsPerShow: 100_000 } as const

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
type LogLevel = typeof logLevels[number]

export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535, description: 'HTTP port' }),
  HOST: Type.String({ default: '0.0.0.0', minLength: 1, description: 'HTTP interface' }),
  MANAGEMENT_PORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'port of /health and /ready answered off the main thread; none when unset' })),
  MANAGEMENT_HOST: Type.Optional(Type.String({ minLength: 1, description: 'interface of the management port; HOST when unset' })),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL URL' })),
  PGHOST: Type.Optional(Type.String({ minLength: 1 })),
  PGPORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  PGUSER: Type.Optional(Type.String({ minLength: 1 })),
  PGPASSWORD: Type.Optional(Type.String()),
  PGDATABASE: Type.Optional(Type.String({ minLength: 1 })),
  PGSSL: Type.Boolean({ default: false }),
  PGPOOL_MAX: Type.Integer({ default: 20, minimum: 1, maximum: 1000, description: 'connections per process' }),
  PG_PREPARED_STATEMENTS: Type.Boolean({
    default: true,
    description: 'name each statement so PostgreSQL plans it once per connection; false behind a PgBouncer older than 1.21 in transaction mode'
  }),
  WORKERS: Type.Integer({ default: 1, minimum: 1, maximum: 64, description: 'server processes sharing the port (node:cluster)' }),
  LISTEN_DATABASE_URL: Type.Optional(Type.String({
    pattern: '^postgres(ql)?://',
    description: 'PostgreSQL URL of the one LISTEN connection per process that live availability uses; the database URL ' +
      'when unset. Set it to reach the database directly when DATABASE_URL goes through PgBouncer in transaction mode, where LISTEN does not work'
  })),
  HOLD_WINDOW_SECONDS: Type.Integer({ default: defaultEngineSettings.holdSeconds, minimum: 1, maximum: 86400, description: 'hold length' }),
  MAX_HOLD_SECONDS: Type.Integer({ default: defaultEngineSettings.maxHoldSeconds, minimum: 1, maximum: 86400, description: 'longest a hold may last, extensions included; at least HOLD_WINDOW_SECONDS' }),
  EXPIRY_JOB_INTERVAL_SECONDS: Type.Integer({ default: 15, minimum: 1, maximum: 3600, description: 'sweep period' }),
  ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'admin bearer token' })),
  WAITING_ROOM_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'signs queue tickets and admission tokens; the same in every process' })),
  ADMISSION_TTL_SECONDS: Type.Integer({ default: defaultAdmissionSeconds, minimum: 1, maximum: 86400, description: 'how long an admission from a waiting room lasts' }),
  MAX_SEATS_PER_BOOKING: Type.Integer({ default: defaultEngineSettings.maxSeatsPerBooking, minimum: 1, maximum: maxSeatsPerBooking, description: 'seats per hold' }),
  MAX_SEATS_PER_SHOW: Type.Integer({ default: defaultEngineSettings.maxSeatsPerShow, minimum: 1, maximum: maxSeatsPerShow, description: 'seats per show' }),
  LOG_LEVEL: Type.Unsafe<LogLevel>({ type: 'string', enum: logLevels, default: 'info' }),
  CORS_ORIGINS: Type.String({ default: '', description: 'comma-separated origins allowed to call from browsers; none when empty' }),
  TRUST_PROXY: Type.String({
    default: 'false',
    description: 'whom to believe in X-Forwarded-For: false, true (every hop: only when nothing else can reach the server), a number of proxy hops, or comma-separated proxy addresses/CIDRs'
  }),
  RATE_LIMIT_BOOKINGS_PER_MINUTE: Type.Integer({ default: 120, minimum: 0, description: 'POST /bookings per client per minute; 0: no limit' }),
  RATE_LIMIT_ADMIN_PER_MINUTE: Type.Integer({ default: 600, minimum: 0, description: 'admin calls per client per minute; 0: no limit' }),
  OVERLOAD_MAX_QUEUE: Type.Integer({ default: 200, minimum: 0, description: 'shed load while this many requests wait for a database connection; 0: never' }),
  OVERLOAD_MAX_HOLD_WAIT_MS: Type.Integer({ default: 1000, minimum: 0, description: 'shed load while a hold has waited this long for its show\'s next hold statement; 0: never' }),
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ default: 200, minimum: 0, description: 'shed load while the event loop lags this much; 0: never' })
})

type Env = Static<typeof ConfigSchema>

export type Config = Omit<Env, 'ADMIN_TOKEN' | 'WAITING_ROOM_SECRET' | 'CORS_ORIGINS' | 'TRUST_PROXY' | 'MANAGEMENT_HOST'> & {
  ADMIN_TOKEN: string
  WAITING_ROOM_SECRET: string
  /** True when WAITING_ROOM_SECRET was not configured and a random one was made for this process. */
  WAITING_ROOM_SECRET_GENERATED: boolean
  MANAGEMENT_HOST: string
  CORS_ORIGINS: string[]
  /** As Fastify's trustProxy takes it. */
  TRUST_PROXY: boolean | number | string[]
  /** True when ADMIN_TOKEN was not configured and a random one was made for this process. */
  ADMIN_TOKEN_GENERATED: boolean
}

export class ConfigError extends Error {}

function trustedProxies (value: string): boolean | number | string[] {
  const text = value.trim()
  if (text === 'false' || text === '') return false
  if (text === 'true') return true
  if (/^\d+$/.test(text)) return Number(text)
  const proxies = text.split(',').map((proxy) => proxy.trim()).filter(Boolean)
  const bad = proxies.find((proxy) => !/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(proxy))
  if (bad !== undefined) throw new ConfigError(`invalid configuration: TRUST_PROXY must be false, true, a hop count or proxy addresses, not ${bad}`)
  return proxies
}

/**
 * The management port is opened by a thread of the serving process. Node's cluster shares only
 * what a worker process's main thread listens on, so with WORKERS > 1 each worker would try to
 * open the port itself and all but the first would fail.
 */
function checkManagementPort ({ MANAGEMENT_PORT: port, PORT, WORKERS }: Env): void {
  if (port === undefined) return
  if (WORKERS > 1) throw new ConfigError('invalid configuration: MANAGEMENT_PORT needs WORKERS=1 (the processes of a cluster cannot share a port opened by a thread); unset one of them')
  if (port === PORT) throw new ConfigError('invalid configuration: MANAGEMENT_PORT must differ from PORT')
}

/** A hold's first window must fit within the longest a hold may last, or no hold could be extended. */
function checkHoldLimits ({ HOLD_WINDOW_SECONDS: window, MAX_HOLD_SECONDS: max }: Env): void {
  if (max < window) throw new ConfigError(`invalid configuration: MAX_HOLD_SECONDS (${max}) must be at least HOLD_WINDOW_SECONDS (${window})`)
}

/**
 * Reads the environment (and `.env` when present). A bad value throws a ConfigError whose message
 * names the variable, e.g. `HOLD_WINDOW_SECONDS must be >= 1`.
 */
function parseEnv<T> (schema: object, env: NodeJS.ProcessEnv, dotenv: boolean): T {
  try {
    return envSchema<T>({ schema, data: env, dotenv })
  } catch (error) {
    const message = (error as Error).message.replace(/(^|, )env\//g, '$1')
    throw new ConfigError(`invalid configuration: ${message}`)
  }
}

const databaseSettings = ['DATABASE_URL', 'PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE', 'PGSSL'] as const
export const DatabaseConfigSchema = Type.Pick(ConfigSchema, databaseSettings)
export type DatabaseConfig = Static<typeof DatabaseConfigSchema>

/** The database settings alone, for `make migrate`: the rest of the configuration cannot block a migration. */
export function loadDatabaseConfig (env: NodeJS.ProcessEnv = process.env, dotenv = true): DatabaseConfig {
  return parseEnv<DatabaseConfig>(DatabaseConfigSchema, env, dotenv)
}

export function loadConfig (env: NodeJS.ProcessEnv = process.env, dotenv = true): Config {
  const parsed = parseEnv<Env>(ConfigSchema, env, dotenv)
  const generated = parsed.ADMIN_TOKEN === undefined
  const origins = parsed.CORS_ORIGINS.split(',').map((origin) => origin.trim()).filter(Boolean)
  const notOrigin = origins.find((origin) => !/^https?:\/\/[^/\s]+$/.test(origin))
  if (notOrigin !== undefined) throw new ConfigError(`invalid configuration: CORS_ORIGINS must list origins like https://tickets.example.com, not ${notOrigin}`)
  checkManagementPort(parsed)
  checkHoldLimits(parsed)
  return {
    ...parsed,
    MANAGEMENT_HOST: parsed.MANAGEMENT_HOST ?? parsed.HOST,
    CORS_ORIGINS: origins,
    TRUST_PROXY: trustedProxies(parsed.TRUST_PROXY),
    ADMIN_TOKEN: parsed.ADMIN_TOKEN ?? randomBytes(24).toString('base64url'),
    ADMIN_TOKEN_GENERATED: generated,
    WAITING_ROOM_SECRET: parsed.WAITING_ROOM_SECRET ?? randomBytes(32).toString('base64url'),
    WAITING_ROOM_SECRET_GENERATED: parsed.WAITING_ROOM_SECRET === undefined
  }
}
