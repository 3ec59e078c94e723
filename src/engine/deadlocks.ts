import type { Database } from '../db/database.ts'

const deadlockDetected = '40P01'

/**
 * Runs a single-statement write again when PostgreSQL chose it as a deadlock's victim: the
 * statement changed nothing, and every writer takes seat locks in seat order, so a second try
 * does not meet the same cycle.
 */
export async function retryOnDeadlock<T> (run: () => Promise<T>, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run()
    } catch (error) {
      if ((error as { code?: string }).code !== deadlockDetected || attempt >= tries) throw error
    }
  }
}

/** Runs `run` in the caller's transaction, or in one of its own retried as a deadlock's victim. */
export async function inTransaction<T> (db: Database, run: (trx: Database) => Promise<T>): Promise<T> {
  if (db.isTransaction) return await run(db)
  return await retryOnDeadlock(async () => await db.transaction().execute(run))
}
