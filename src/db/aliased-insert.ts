import { AliasNode, IdentifierNode, InsertQueryNode, type KyselyPlugin } from 'kysely'
import type { Database } from './database.ts'
import type { DB } from './types.ts'

/**
 * `INSERT INTO table AS alias`, which the builder has no form for. Citus writes an INSERT ...
 * SELECT's RETURNING for the shard it runs on by the target's alias; without one it names the
 * distributed table, which the shard's statement does not have ("missing FROM-clause entry").
 */
export function insertIntoAliased<T extends keyof DB & string> (db: Database, table: T, alias: string) {
  const plugin: KyselyPlugin = {
    transformQuery: ({ node }) => InsertQueryNode.is(node) && node.into !== undefined
      ? { ...node, into: AliasNode.create(node.into, IdentifierNode.create(alias)) } as unknown as typeof node
      : node,
    transformResult: async ({ result }) => result
  }
  return db.withPlugin(plugin).insertInto(table)
}
