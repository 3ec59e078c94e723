import { sql } from 'kysely'
import type { Database } from '../../src/db/database.ts'
import { holdStatement } from '../../src/engine/holds.ts'
import { holdSeconds } from './settings.ts'

/**
 * The API's hold statement, as the bench reads its plan and as pgbench runs it for the ceiling:
 * the one module that imports it from the engine.
 */

export interface HoldPlan {
  free: 'index order' | 'sorts every free seat'
  taken: 'seat by key' | 'reads every seat'
}

/** The API's hold statement as it runs for one hold of 2 seats, the flash sale's request. */
export const singleHold = (db: Database, showId: string) => holdStatement(showId, [2], holdSeconds, false).compile(db)

/** A statement parameter as PostgreSQL reads it in text form: arrays as {a,b}. */
export const textOf = (value: unknown): string => Array.isArray(value) ? `{${value.join(',')}}` : String(value)

/**
 * How the planner runs the API's hold statement for this show now. A hold is cheap only when
 * `free` reads seats_free_idx in seat order and `taken` finds each seat by its key; with missing or
 * stale statistics (no ANALYZE since the show was created) it may instead sort every free seat of
 * the show (LockRows keeps the sort from being a bounded top-N) or walk every seat of the show, and
 * each hold then costs milliseconds per thousand seats. Recorded so that a slow figure can be told
 * apart from a slow plan. It is the generic plan, made without knowing the show, which is what the
 * server runs after a statement's first few runs on a connection (the seat total is a subquery for
 * that; see holdStatement in src/engine/holds.ts).
 */
async function holdPlan (db: Database, showId: string): Promise<HoldPlan> {
  const compiled = singleHold(db, showId)
  const args = sql.join(compiled.parameters.map((value) => sql.lit(textOf(value))))
  const rows = await db.transaction().execute(async (trx) => {
    await sql`SET LOCAL plan_cache_mode = force_generic_plan`.execute(trx)
    await sql`PREPARE bench_hold AS ${sql.raw(compiled.sql)}`.execute(trx)
    const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN EXECUTE bench_hold(${args})`.execute(trx)
    await sql`DEALLOCATE bench_hold`.execute(trx)
    return rows
  })
  const plan = rows.map((row) => row['QUERY PLAN']).join('\n')
  const cte = (name: string): string => plan.split(/\n\s*CTE /).find((part) => part.startsWith(`${name}\n`)) ?? ''
  return {
    free: /Sort Key/.test(cte('free')) ? 'sorts every free seat' : 'index order',
    taken: /Index Cond: .*seat_no = /.test(cte('taken')) ? 'seat by key' : 'reads every seat'
  }
}

export const planText = (plan: HoldPlan): string => plan.free === 'index order' && plan.taken === 'seat by key' ? 'fast' : `${plan.free}, ${plan.taken}`

export interface Plans { start: HoldPlan, end: HoldPlan }

/** The show's hold plan before and after `run`. */
export async function withPlans<T> (db: Database, showId: string, run: () => Promise<T>): Promise<{ plan: Plans, result: T }> {
  const start = await holdPlan(db, showId)
  const result = await run()
  return { plan: { start, end: await holdPlan(db, showId) }, result }
}
