import type { Kysely } from 'kysely'
import { createDatabase, type DatabaseOptions } from './database.ts'
import { pendingMigrations } from './migrations.ts'

/**
 * A connection of its own for readiness checks, with short bounds: behind the pool's queue, a busy
 * but healthy node would look unready to its load balancer exactly when a sale opens.
 */
export function readinessDatabase (options: Pick<DatabaseOptions, 'url' | 'ssl' | 'preparedStatements' | 'applicationName'>): ReturnType<typeof createDatabase> {
  return createDatabase({ ...options, poolMax: 1, timeouts: { connect: 2_000, statement: 2_000 } })
}

/**
 * The readiness check behind `/ready`: the migrations not yet applied, from the database. A
 * database found ready within the last `freshMs` is taken as still ready, and concurrent checks
 * share one query: under a sale, a query on a CPU-starved database made the answer as slow as the
 * holds, while a load balancer only needs to know that the database answered moments ago.
 * A failure or a pending migration is never remembered.
 */
export function readinessCheck (db: Kysely<any>, freshMs = 1_000): () => Promise<string[]> {
  let readyAt = -Infinity
  let checking: Promise<string[]> | undefined
  return async () => {
    if (performance.now() - readyAt < freshMs) return []
    checking ??= pendingMigrations(db).then((pending) => {
      if (pending.length === 0) readyAt = performance.now()
      return pending
    }).finally(() => { checking = undefined })
    return await checking
  }
}
