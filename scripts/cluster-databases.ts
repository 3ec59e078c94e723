import type pg from 'pg'
import { dropDatabase, withClient, withDatabaseName } from '../src/db/database.ts'

/**
 * Scratch databases (tests, the bench, codegen) on a test server that may be a Citus coordinator:
 * there, a database is a cluster of its own, made on every node, with the extension in each and
 * the workers joined on the coordinator. On plain PostgreSQL, just the database.
 */

export interface Host { host: string, port: number }

export interface ServerNodes {
  /** The coordinator, on Citus; undefined on plain PostgreSQL. */
  coordinator?: Host
  /** URLs of the maintenance database on every node, the server's own first. */
  nodes: string[]
}

/**
 * The nodes a database on the server of `adminUrl` lives on: that server and, when its maintenance
 * database has the citus extension with workers, every worker.
 */
export async function serverNodes (adminUrl: string): Promise<ServerNodes> {
  const citus = await withClient(adminUrl, async (client) => {
    const { rowCount } = await client.query("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
    if (rowCount === 0) return []
    const { rows } = await client.query<Host & { worker: boolean }>(
      "SELECT nodename AS host, nodeport AS port, groupid <> 0 AS worker FROM pg_dist_node WHERE noderole = 'primary' ORDER BY groupid")
    return rows
  })
  const workers = citus.filter((node) => node.worker)
  if (workers.length === 0) return { nodes: [adminUrl] }
  const onNode = ({ host, port }: Host): string => {
    const url = new URL(adminUrl)
    url.hostname = host
    url.port = String(port)
    return url.toString()
  }
  const admin = new URL(adminUrl)
  const coordinator = citus.find((node) => !node.worker) ?? { host: admin.hostname, port: Number(admin.port || 5432) }
  return { coordinator, nodes: [adminUrl, ...workers.map(onNode)] }
}

export async function onEachNode (nodes: string[], run: (client: pg.Client) => Promise<unknown>): Promise<void> {
  await Promise.all(nodes.map(async (url) => await withClient(url, run)))
}

/**
 * Creates database `name` on every node: a copy of `template` on each (a template made on every
 * node holds its shards there), or, on Citus without a template, a new cluster of its own.
 */
export async function createServerDatabase ({ coordinator, nodes }: ServerNodes, name: string, template?: string): Promise<void> {
  await onEachNode(nodes, async (client) => await client.query(`CREATE DATABASE ${name}${template === undefined ? '' : ` TEMPLATE ${template}`}`))
  if (coordinator === undefined || template !== undefined) return
  await onEachNode(nodes.map((url) => withDatabaseName(url, name)), async (client) => await client.query('CREATE EXTENSION citus'))
  await withClient(withDatabaseName(nodes[0]!, name), async (client) => {
    await client.query('SELECT citus_set_coordinator_host($1, $2)', [coordinator.host, coordinator.port])
    for (const worker of nodes.slice(1)) {
      const { hostname, port } = new URL(worker)
      await client.query('SELECT citus_add_node($1, $2)', [hostname, Number(port)])
    }
  })
}

export async function dropServerDatabase ({ nodes }: ServerNodes, name: string): Promise<void> {
  await Promise.all(nodes.map(async (url) => await dropDatabase(url, name)))
}
