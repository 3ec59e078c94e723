import cluster from 'node:cluster'
import { runWorkers } from './cluster.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { resolveDatabase } from './database-setup.ts'
import { serve } from './serve.ts'

function readConfig (): Config {
  try {
    return loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`${error.message}\n`)
    process.exit(1)
  }
}

const config = readConfig()
// In a worker, DATABASE_URL comes from the primary, so this never starts a second embedded server.
const target = await resolveDatabase(config, { log: (message) => process.stdout.write(`${message}\n`) })
if (cluster.isPrimary && config.WORKERS > 1) await runWorkers(config, target)
else await serve(config, target)
