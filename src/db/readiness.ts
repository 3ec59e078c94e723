import type { Kysely } from 'kysely'
import { pendingMigrations } from './migrations.ts'

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
