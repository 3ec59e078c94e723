import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import tap, { type Test } from 'tap'
import { createDatabase, withClient, withDatabaseName, type Database } from '../../src/db/database.ts'
import { dbmate, migrationsDir } from '../../src/db/migrations.ts'
import { createServerDatabase, dropServerDatabase, onEachNode, serverNodes, type ServerNodes } from '../../scripts/cluster-databases.ts'
import { startTestServer, type TestServer } from '../../scripts/postgres-server.ts'

let ownServer: Promise<TestServer> | undefined

/**
 * The server's URL. `make test` starts one server for the whole run and passes it in
 * TEST_DATABASE_URL; a test file run on its own starts its own.
 */
async function serverUrl (): Promise<string> {
  if (ownServer === undefined) {
    ownServer = startTestServer()
    const server = await ownServer
    tap.teardown(async () => await server.stop())
  }
  return (await ownServer).url
}

// The template's name changes with the migrations, so an edited migration gets a new template.
const migrationsDigest = createHash('sha256')
  .update(readdirSync(migrationsDir).sort().map((name) => name + readFileSync(path.join(migrationsDir, name), 'utf8')).join('\n'))
  .digest('hex').slice(0, 12)
const templateName = `booking_template_${migrationsDigest}`

let nodesOfServer: Promise<ServerNodes> | undefined
const nodesOf = async (adminUrl: string) => await (nodesOfServer ??= serverNodes(adminUrl))

/**
 * Migrates a template database once per server (several test files may race to do it). On Citus,
 * a copy of the coordinator's database does not carry its shards, so every node gets a template
 * of the same name (its part of the one migrated cluster) and test databases are copied on every
 * node at once. A template takes no connections, so that Citus's own sessions stay out of it.
 */
async function ensureTemplate (adminUrl: string): Promise<void> {
  const cluster = await nodesOf(adminUrl)
  const { nodes } = cluster
  await withClient(adminUrl, async (client) => {
    await client.query('SELECT pg_advisory_lock(727274)')
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [templateName])
      if (rowCount !== 0) return
      const building = `${templateName}_building`
      await dropServerDatabase(cluster, building)
      await createServerDatabase(cluster, building)
      await dbmate(withDatabaseName(adminUrl, building), ['up'])
      await onEachNode(nodes, async (node) => {
        await node.query(`ALTER DATABASE ${building} ALLOW_CONNECTIONS false`)
        await node.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [building])
        await node.query(`ALTER DATABASE ${building} RENAME TO ${templateName}`)
      })
    } finally {
      await client.query('SELECT pg_advisory_unlock(727274)')
    }
  })
}

/**
 * A new database of this test's own, dropped when the file ends; migrated unless `migrated` is
 * false. On Citus, a migrated database is distributed over the server's workers.
 */
export async function freshDatabaseUrl ({ migrated = true } = {}): Promise<string> {
  const adminUrl = await serverUrl()
  const name = `test_${randomBytes(6).toString('hex')}`
  const cluster = migrated ? await nodesOf(adminUrl) : { nodes: [adminUrl] }
  if (migrated) await ensureTemplate(adminUrl)
  await createServerDatabase(cluster, name, migrated ? templateName : undefined)
  // Dropped when the whole file is done, after every test's own teardown has closed its pools.
  tap.teardown(async () => {
    await dropServerDatabase(cluster, name)
  })
  return withDatabaseName(adminUrl, name)
}

/** Whether the test server is a Citus coordinator with workers. */
export async function onCitus (): Promise<boolean> {
  return (await nodesOf(await serverUrl())).coordinator !== undefined
}

/** A Kysely instance on a fresh migrated database, destroyed when the test ends. */
export async function freshDatabase (t: Test, { poolMax = 10 } = {}): Promise<{ db: Database, url: string }> {
  const url = await freshDatabaseUrl()
  const { db } = createDatabase({ url, poolMax })
  t.teardown(async () => await db.destroy())
  return { db, url }
}

/**
 * A session of its own that keeps new bookings out of the database at `url` until `release`, so
 * that the next hold statement waits (and holds behind it queue). Ended when the test ends.
 */
export async function keepBookingsOut (t: Test, url: string): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(async () => { await client.end() })
  await client.query('BEGIN; LOCK TABLE bookings IN SHARE MODE')
  return async () => { await client.query('COMMIT') }
}
