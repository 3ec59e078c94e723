import cluster, { type Worker } from 'node:cluster'
import closeWithGrace from 'close-with-grace'
import { answerMetricsRequests } from './cluster-metrics.ts'
import type { Config } from './config.ts'
import type { DatabaseTarget } from './db/target.ts'

/** From the primary to its workers: shut down gracefully (as on SIGTERM). */
export const shutdownMessage = 'booking:shutdown'

// The primary's few lines, in the workers' (pino's) format and levels, honouring LOG_LEVEL.
const levels: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }
function logger (level: string) {
  return (at: 'info' | 'warn' | 'error', message: string): void => {
    if ((levels[at] ?? 0) < (levels[level] ?? 30)) return
    process.stdout.write(`${JSON.stringify({ level: levels[at], time: Date.now(), pid: process.pid, msg: message })}\n`)
  }
}

/**
 * WORKERS processes serving one port through node:cluster. The primary owns what there must be
 * one of: the embedded database and the generated admin token and waiting-room secret, which the workers receive in
 * their environment. The workers are otherwise independent: each has its own pool, expiry sweep
 * (safe to run in all of them) and live-availability listener. A worker that dies is replaced.
 */
export async function runWorkers (config: Config, target: DatabaseTarget): Promise<void> {
  let stopping = false
  const say = logger(config.LOG_LEVEL)
  const env = { DATABASE_URL: target.url, ADMIN_TOKEN: config.ADMIN_TOKEN, WAITING_ROOM_SECRET: config.WAITING_ROOM_SECRET }
  const fork = (): Worker => cluster.fork(env)
  answerMetricsRequests()

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return
    say('error', `worker ${worker.process.pid ?? '?'} exited (${signal ?? code}); starting another`)
    // After a pause, so that a worker failing at start does not spin the machine.
    setTimeout(() => { if (!stopping) fork() }, 1_000).unref()
  })

  // Each worker shuts down gracefully, bounded by its own 10 s grace, then the primary stops the
  // embedded database under them. The primary asks by message, not by signal: Ctrl-C (and
  // systemd) signal the workers too, and a second signal would force a worker out mid-drain.
  closeWithGrace({ delay: 15_000 }, async ({ signal, err }) => {
    stopping = true
    if (err === undefined) say('info', `shutting down the workers (${signal ?? 'exit'})`)
    else say('error', `shutting down after an error: ${err.message}`)
    const workers = Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined)
    const exited = workers.map(async (worker) => await new Promise((resolve) => {
      if (worker.isDead()) resolve(undefined)
      else worker.once('exit', resolve)
    }))
    for (const worker of workers) if (worker.isConnected()) worker.send(shutdownMessage)
    await Promise.all(exited)
    await target.stop()
  })

  say('info', `starting ${config.WORKERS} workers on ${config.HOST}:${config.PORT}`)
  if (config.ADMIN_TOKEN_GENERATED) say('warn', `ADMIN_TOKEN is not set; this process made one: ${config.ADMIN_TOKEN}`)
  if (config.WAITING_ROOM_SECRET_GENERATED) say('warn', `WAITING_ROOM_SECRET is not set; this process made one: ${config.WAITING_ROOM_SECRET}`)
  for (let i = 0; i < config.WORKERS; i++) fork()
}
