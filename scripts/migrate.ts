/**
 * `make migrate` / `make rollback` / `make status`: runs dbmate against DATABASE_URL, or the URL
 * the PG* variables make, or (with neither) the embedded database in .data/. Arguments are
 * dbmate's: up, rollback, status. Only the database settings are read, and PGSSL is honoured.
 */
import { ConfigError, loadDatabaseConfig } from '../src/config.ts'
import { EmbeddedDatabaseError } from '../src/db/embedded.ts'
import { dbmate } from '../src/db/migrations.ts'
import { checkReachable, DatabaseUnreachable } from '../src/db/reachable.ts'
import { resolveDatabase } from '../src/db/target.ts'

const log = (line: string): void => { process.stdout.write(`${line}\n`) }
const fail = (line: string): void => {
  process.stderr.write(`${line}\n`)
  process.exitCode = 1
}

try {
  const config = loadDatabaseConfig()
  const target = await resolveDatabase(config, { log, migrate: false })
  try {
    await checkReachable(target.url, config.PGSSL, log)
    // dbmate's own lines are already shown: on failure, one line more says which command failed.
    await dbmate(target.url, process.argv.slice(2), log, config.PGSSL).catch(() => { fail(`dbmate ${process.argv.slice(2).join(' ')} failed (its output is above)`) })
  } finally {
    await target.stop()
  }
} catch (error) {
  if (!(error instanceof ConfigError || error instanceof DatabaseUnreachable || error instanceof EmbeddedDatabaseError)) throw error
  fail(error.message)
}
