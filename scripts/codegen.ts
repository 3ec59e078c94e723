/**
 * `make codegen`: migrates a scratch database (on the same server the tests use: TEST_DATABASE_URL,
 * testcontainers or embedded), then writes what is generated from it: the Kysely types
 * (src/db/types.ts, settings in .kysely-codegenrc.json) and db/schema.sql.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { resolveBinary } from 'dbmate'
import { dropDatabase, ensureDatabase, withDatabaseName } from '../src/db/database.ts'
import { dbmate, dbmateUrl, migrationsDir } from '../src/db/migrations.ts'
import { startTestServer } from './postgres-server.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const schemaFile = fileURLToPath(new URL('../db/schema.sql', import.meta.url))
const server = await startTestServer()
const name = `booking_codegen_${process.pid}`
const url = withDatabaseName(server.url, name)
try {
  await ensureDatabase(server.url, name)
  await dbmate(url, ['up'])
  execFileSync(fileURLToPath(new URL('../node_modules/.bin/kysely-codegen', import.meta.url)), ['--url', url, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' })
  execFileSync(resolveBinary(), ['--migrations-dir', migrationsDir, '--schema-file', schemaFile, 'dump'], {
    env: { ...process.env, DATABASE_URL: dbmateUrl(url) },
    stdio: 'inherit'
  })
  // pg_dump stamps its own and the server's version; keep the file about the schema only.
  const schema = readFileSync(schemaFile, 'utf8').replace(/^-- Dumped (from|by) .*\n/gm, '')
  writeFileSync(schemaFile, schema)
} finally {
  await dropDatabase(server.url, name)
  await server.stop()
}
