import cluster, { type Worker } from 'node:cluster'
import closeWithGrace from 'close-with-grace'
import type { Config } from './config.ts'
import type { DatabaseTarget } from './database-setup.ts'

const say = (message: string): void => { process.stdout.write(`${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, msg: message })}\n`) }

/**
 * WORKERS processes serving one port through node:cluster. The primary owns what there must be
 * one of: the embedded database and the generated admin token, which the workers receive in
 * their environment. The workers are otherwise independent: each has its own pool, expiry sweep
 * (safe to run in all of them) and live-availability listener. A worker that dies is replaced.
 */
export async function runWorkers (config: Config, target: DatabaseTarget): Promise<void> {
  let stopping = false
  const env = { DATABASE_URL: target.url, ADMIN_TOKEN: config.ADMIN_TOKEN }
  const fork = (): Worker => cluster.fork(env)

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return
    say(`worker ${worker.process.pid ?? '?'} exited (${signal ?? code}); starting another`)
    // After a pause, so that a worker failing at start does not spin the machine.
    setTimeout(() => { if (!stopping) fork() }, 1_000).unref()
  })

  // The workers shut down gracefully on their own signal; the primary relays it, waits for them
  // (each bounded by its own 10 s grace), then stops the embedded database under them.
  closeWithGrace({ delay: 15_000 }, async ({ signal, err }) => {
    stopping = true
    say(err === undefined ? `shutting down the workers (${signal ?? 'exit'})` : `shutting down after an error: ${err.message}`)
    const workers = Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined)
    const exited = workers.map(async (worker) => await new Promise((resolve) => {
      if (worker.isDead()) resolve(undefined)
      else worker.once('exit', resolve)
    }))
    for (const worker of workers) worker.process.kill('SIGTERM')
    await Promise.all(exited)
    await target.stop()
  })

  say(`starting ${config.WORKERS} workers on ${config.HOST}:${config.PORT}`)
  if (config.ADMIN_TOKEN_GENERATED) say(`ADMIN_TOKEN is not set; this process made one: ${config.ADMIN_TOKEN}`)
  for (let i = 0; i < config.WORKERS; i++) fork()
}
