import cluster from 'node:cluster'
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { shutdownMessage } from './cluster.ts'
import type { Config } from './config.ts'
import type { DatabaseTarget } from './db/target.ts'
import { createDatabase, poolStats } from './db/database.ts'
import { readinessCheck, readinessDatabase } from './db/readiness.ts'
import { startExpiryJob } from './engine/expiry-job.ts'
import { loggerOptions } from './logger-options.ts'
import { startManagementPort } from './management/management-port.ts'
import type { ShutdownTimings } from './plugins/lifecycle.ts'

/** Within the 10 s grace: a second of draining, then up to 5 s for answers to reach slow clients. */
const shutdownTimings: ShutdownTimings = { drainMs: 1_000, answerFlushMs: 5_000 }

/**
 * One serving process: the app on its own pool, the expiry sweep, the management port when
 * configured, and a graceful shutdown. With WORKERS > 1 each worker of the cluster runs this.
 */
export async function serve (config: Config, target: DatabaseTarget): Promise<void> {
  const { db, pool } = createDatabase({ url: target.url, ssl: config.PGSSL, poolMax: config.PGPOOL_MAX, preparedStatements: config.PG_PREPARED_STATEMENTS })
  const probe = readinessDatabase({ url: target.url, ssl: config.PGSSL, applicationName: 'booking-api-ready', preparedStatements: config.PG_PREPARED_STATEMENTS })
  const app = await buildApp({
    db,
    adminToken: config.ADMIN_TOKEN,
    engine: {
      holdSeconds: config.HOLD_WINDOW_SECONDS,
      maxHoldSeconds: config.MAX_HOLD_SECONDS,
      maxSeatsPerShow: config.MAX_SEATS_PER_SHOW,
      maxSeatsPerBooking: config.MAX_SEATS_PER_BOOKING,
      waitingRoom: { secret: config.WAITING_ROOM_SECRET, admissionSeconds: config.ADMISSION_TTL_SECONDS }
    },
    pendingMigrations: readinessCheck(probe.db),
    poolStats: () => poolStats(pool),
    http: {
      corsOrigins: config.CORS_ORIGINS,
      trustProxy: config.TRUST_PROXY,
      rateLimits: { bookingsPerMinute: config.RATE_LIMIT_BOOKINGS_PER_MINUTE, adminPerMinute: config.RATE_LIMIT_ADMIN_PER_MINUTE },
      loadShedding: {
        maxQueue: config.OVERLOAD_MAX_QUEUE,
        maxHoldWaitMs: config.OVERLOAD_MAX_HOLD_WAIT_MS,
        maxEventLoopDelayMs: config.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS
      }
    },
    logger: loggerOptions(config.LOG_LEVEL),
    // Closed by app.close(), after the requests in flight, so that their changes are published.
    showEvents: { listenUrl: config.LISTEN_DATABASE_URL ?? target.url, ssl: config.PGSSL }
  })
  pool.on('error', (error) => app.log.warn({ err: error }, 'an idle database connection failed; the pool replaces it'))
  if (config.ADMIN_TOKEN_GENERATED) {
    app.log.warn(`ADMIN_TOKEN is not set; this process made one: ${config.ADMIN_TOKEN}`)
  }
  if (config.WAITING_ROOM_SECRET_GENERATED) {
    app.log.warn(`WAITING_ROOM_SECRET is not set; this process made one (queue tickets will not survive a restart): ${config.WAITING_ROOM_SECRET}`)
  }
  const management = config.MANAGEMENT_PORT === undefined
    ? undefined
    : await startManagementPort({
      port: config.MANAGEMENT_PORT,
      host: config.MANAGEMENT_HOST,
      database: { url: target.url, ssl: config.PGSSL, preparedStatements: config.PG_PREPARED_STATEMENTS },
      log: app.log
    })
  if (management !== undefined) {
    app.lifecycle.onDraining(management.draining)
    app.log.info({ host: config.MANAGEMENT_HOST, port: management.port }, 'management port answering /health and /ready')
  }
  const expiryJob = startExpiryJob(app.engine, config.EXPIRY_JOB_INTERVAL_SECONDS, app.log)
  app.addHook('preClose', async () => { await expiryJob.stop() })

  // On SIGINT/SIGTERM: drain, stop taking requests, let those in flight finish, then close the pool
  // and the embedded database. A second signal, or 10 s, forces the exit.
  const grace = closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal: signal ?? 'primary', worker: cluster.isWorker }, 'shutting down')
    await app.lifecycle.shutdown(shutdownTimings)
    await db.destroy()
    await probe.db.destroy()
    await management?.stop()
    await target.stop()
  })

  // In a cluster the primary asks for the same shutdown by message; a worker already shutting
  // down on its own signal ignores it.
  process.on('message', (message) => { if (message === shutdownMessage && !app.lifecycle.draining()) void grace.close() })

  // A sale opens with thousands of connections at once: Node's default backlog (511) drops SYNs
  // beyond it, and each dropped client waits a second for its retransmission. The kernel caps the
  // value at net.core.somaxconn.
  await app.listen({ port: config.PORT, host: config.HOST, backlog: 4096 })
  management?.serving()
}
