import type { Writable } from 'node:stream'
import type { Test } from 'tap'
import type { Booking, Show } from '../../api/index.ts'
import { buildApp, type App, type HttpSettings } from '../../src/app.ts'
import { defaultEngineSettings } from '../../src/config.ts'
import { defaultAdmissionSeconds, type WaitingRoomSettings } from '../../src/engine/waiting-room/index.ts'
import { createDatabase, poolStats, type Database, type Timeouts } from '../../src/db/database.ts'
import { pendingMigrations } from '../../src/db/migrations.ts'
import { loggerOptions } from '../../src/logger-options.ts'
import { freshDatabaseUrl } from './database.ts'
import { validateResponses } from './response-validation.ts'

export const adminToken = 'test-admin-token-0123456789'
export const waitingRoomSecret = 'test-waiting-room-secret-0123456789abcdef'
export const admin = { authorization: `Bearer ${adminToken}` }

export interface TestAppOptions {
  /** Reuse this database instead of making a fresh one (a second instance, say). */
  url?: string
  holdSeconds?: number
  maxHoldSeconds?: number
  maxSeatsPerBooking?: number
  maxSeatsPerShow?: number
  /** The waiting room's secret and admission length (a fixed test secret, 600 s by default). */
  waitingRoom?: Partial<WaitingRoomSettings>
  poolMax?: number
  timeouts?: Partial<Timeouts>
  /** False for a pooler that cannot keep prepared statements (PgBouncer before 1.21). */
  preparedStatements?: boolean
  /** The LISTEN connection's database, when `url` goes through a pooler. */
  listenUrl?: string
  /** Rate limits, load shedding, CORS: all off unless a test turns them on. */
  http?: Partial<HttpSettings>
  /** Live availability's keep-alive and recount period (15 s by default). */
  heartbeatMs?: number
  /** Where the app logs, at info level (no logging by default). */
  logTo?: Writable
}

export interface TestApp {
  app: App
  db: Database
  url: string
}

/** The whole application on a database of its own, closed when the test ends. */
export async function testApp (t: Test, options: TestAppOptions = {}): Promise<TestApp> {
  const url = options.url ?? await freshDatabaseUrl()
  const { db, pool } = createDatabase({ url, poolMax: options.poolMax ?? 10, ...(options.timeouts !== undefined && { timeouts: options.timeouts }), ...(options.preparedStatements !== undefined && { preparedStatements: options.preparedStatements }) })
  const app = await buildApp({
    db,
    adminToken,
    engine: {
      holdSeconds: options.holdSeconds ?? defaultEngineSettings.holdSeconds,
      maxHoldSeconds: options.maxHoldSeconds ?? defaultEngineSettings.maxHoldSeconds,
      maxSeatsPerBooking: options.maxSeatsPerBooking ?? defaultEngineSettings.maxSeatsPerBooking,
      maxSeatsPerShow: options.maxSeatsPerShow ?? defaultEngineSettings.maxSeatsPerShow,
      waitingRoom: { secret: waitingRoomSecret, admissionSeconds: defaultAdmissionSeconds, ...options.waitingRoom }
    },
    pendingMigrations: async () => await pendingMigrations(db),
    poolStats: () => poolStats(pool),
    ...(options.http !== undefined && { http: options.http }),
    ...(options.logTo !== undefined && { logger: loggerOptions('info', options.logTo) }),
    // A hub of its own per app, listening on its database; app.close() closes it.
    showEvents: { listenUrl: options.listenUrl ?? url, ...(options.heartbeatMs !== undefined && { heartbeatMs: options.heartbeatMs }) }
  })
  validateResponses(app, (problem) => t.fail(problem))
  t.teardown(async () => {
    await app.close()
    await db.destroy()
  })
  return { app, db, url }
}

export const inAnHour = (): string => new Date(Date.now() + 3600_000).toISOString()

export async function createShow (app: App, body: Record<string, unknown>): Promise<Show> {
  const response = await app.inject({ method: 'POST', url: '/admin/shows', headers: admin, payload: { name: 'A show', start_time: inAnHour(), ...body } })
  if (response.statusCode !== 201) throw new Error(`creating a show answered ${response.statusCode}: ${response.body}`)
  return response.json()
}

export async function hold (app: App, payload: Record<string, unknown>, headers: Record<string, string> = {}) {
  return await app.inject({ method: 'POST', url: '/bookings', payload, headers })
}

export async function holdOk (app: App, payload: Record<string, unknown>): Promise<Booking> {
  const response = await hold(app, payload)
  if (response.statusCode !== 201) throw new Error(`hold answered ${response.statusCode}: ${response.body}`)
  return response.json()
}

export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))
