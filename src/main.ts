import cluster from 'node:cluster'
import { runWorkers } from './cluster.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { resolveDatabase, type DatabaseTarget } from './db/target.ts'
import { EmbeddedDatabaseError } from './db/embedded.ts'
import { serve } from './serving-process.ts'

function readConfig (): Config {
  try {
    return loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`${error.message}\n`)
    process.exit(1)
  }
}

/** The database to serve from; a reason it cannot be had here stops the start with that one line. */
async function database (config: Config): Promise<DatabaseTarget> {
  try {
    return await resolveDatabase(config, { log: (message) => process.stdout.write(`${message}\n`) })
  } catch (error) {
    if (!(error instanceof EmbeddedDatabaseError)) throw error
    process.stderr.write(`${error.message}\n`)
    process.exit(1)
  }
}

const config = readConfig()
// In a worker, DATABASE_URL comes from the primary, so this never starts a second embedded server.
const target = await database(config)
if (cluster.isPrimary && config.WORKERS > 1) await runWorkers(config, target)
else await serve(config, target)
