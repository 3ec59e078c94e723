import { fileURLToPath } from 'node:url'
import type { DatabaseConfig } from '../config.ts'
import { configuredDatabaseUrl, ensureDatabase, withDatabaseName } from './database.ts'
import { startEmbeddedPostgres } from './embedded.ts'
import { dbmate } from './migrations.ts'

export const embeddedDataDir = fileURLToPath(new URL('../../.data/postgres', import.meta.url))
const embeddedDatabaseName = 'booking'

export interface DatabaseTarget {
  url: string
  /** Stops the embedded server; a no-op for a configured database. */
  stop: () => Promise<void>
  embedded: boolean
}

/**
 * The database the configuration names, or, with neither DATABASE_URL nor PGHOST set, an embedded
 * PostgreSQL with its data in .data/ (kept between runs), created on first use and migrated.
 */
export async function resolveDatabase (
  config: DatabaseConfig,
  { log = () => {}, dataDir = embeddedDataDir, migrate = true }: { log?: (message: string) => void, dataDir?: string, migrate?: boolean } = {}
): Promise<DatabaseTarget> {
  const url = configuredDatabaseUrl(config)
  if (url !== undefined) return { url, stop: async () => {}, embedded: false }
  log(`no DATABASE_URL or PGHOST: starting embedded PostgreSQL in ${dataDir}`)
  const server = await startEmbeddedPostgres(dataDir)
  try {
    await ensureDatabase(server.url, embeddedDatabaseName)
    const embeddedUrl = withDatabaseName(server.url, embeddedDatabaseName)
    if (migrate) await dbmate(embeddedUrl, ['--wait', 'up'], log)
    return { url: embeddedUrl, stop: server.stop, embedded: true }
  } catch (error) {
    await server.stop()
    throw error
  }
}
