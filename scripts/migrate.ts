/**
 * `make migrate` / `make rollback`: runs dbmate against DATABASE_URL, or the URL the PG* variables
 * make, or (with neither) the embedded database in .data/. Arguments are dbmate's: up, down, status.
 */
import { loadConfig } from '../src/config.ts'
import { dbmate } from '../src/db/migrations.ts'
import { resolveDatabase } from '../src/database-setup.ts'

const log = (line: string): void => { process.stdout.write(`${line}\n`) }
const target = await resolveDatabase(loadConfig(), { log, migrate: false })
try {
  await dbmate(target.url, ['--wait', ...process.argv.slice(2)], log)
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`)
  process.exitCode = 1
} finally {
  await target.stop()
}
