/**
 * `make openapi`: writes openapi.yaml from the routes the app registers, without a database or a
 * listening socket. The same document is served at /docs/json.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { buildApp } from '../src/app.ts'
import { defaultEngineSettings } from '../src/config.ts'
import { createDatabase } from '../src/db/database.ts'

// The pool connects lazily; nothing here runs a query.
const { db } = createDatabase({ url: 'postgres://openapi@127.0.0.1:1/openapi' })
const app = await buildApp({
  db,
  adminToken: 'unused-while-generating-the-document',
  engine: defaultEngineSettings,
  pendingMigrations: async () => []
})
await app.ready()
const target = fileURLToPath(new URL('../openapi.yaml', import.meta.url))
// Written as YAML 1.1, which quotes strings that its readers would otherwise load as dates or booleans.
writeFileSync(target, stringify(app.swagger(), { version: '1.1', lineWidth: 80, aliasDuplicateObjects: true }))
await app.close()
await db.destroy()
process.stdout.write(`wrote ${target}\n`)
