import { sql, type Compilable } from 'kysely'
import type { Database } from '../../src/db/database.ts'
import { markSeats, pickSeats } from '../../src/engine/hold-statements.ts'

/**
 * The plans of the API's hold statements that depend on the show's size: finding the free seats,
 * and marking the seats taken. The one module of the bench that imports them from the engine.
 */

export interface HoldPlan {
  free: 'index order' | 'sorts every free seat'
  taken: 'seat by key' | 'reads every seat'
}

/** A statement parameter as PostgreSQL reads it in text form: arrays as {a,b}. */
const textOf = (value: unknown): string => Array.isArray(value) ? `{${value.join(',')}}` : String(value)

/**
 * The plan the server runs `statement` with: on one server the generic plan, what it runs after a
 * statement's first few runs on a connection; on Citus the plan of the show's worker, which EXPLAIN
 * on the coordinator shows (Citus sends each run to the worker with its values).
 */
async function genericPlan (db: Database, statement: Compilable): Promise<string> {
  const compiled = statement.compile()
  const args = sql.join(compiled.parameters.map((value) => value === null ? sql`NULL` : sql.lit(textOf(value))))
  const { rows: [citus] } = await sql<{ on: boolean }>`SELECT citus_has_workers() AS on`.execute(db)
  if (citus?.on === true) {
    const withValues = compiled.sql.replace(/\$(\d+)/g, (_, n: string) => {
      const value = compiled.parameters[Number(n) - 1]
      return value === null ? 'NULL' : `'${textOf(value).replaceAll("'", "''")}'`
    })
    const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN ${sql.raw(withValues)}`.execute(db)
    return rows.map((row) => row['QUERY PLAN']).join('\n')
  }
  const rows = await db.transaction().execute(async (trx) => {
    await sql`SET LOCAL plan_cache_mode = force_generic_plan`.execute(trx)
    await sql`PREPARE bench_hold AS ${sql.raw(compiled.sql)}`.execute(trx)
    const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN EXECUTE bench_hold(${args})`.execute(trx)
    await sql`DEALLOCATE bench_hold`.execute(trx)
    return rows
  })
  return rows.map((row) => row['QUERY PLAN']).join('\n')
}

/**
 * How the planner runs the API's hold for this show now, for a hold of 2 seats, the flash sale's
 * request. A hold is cheap only when the free seats are read from seats_free_idx in seat order
 * and each taken seat is found by its key; with missing or stale statistics (no ANALYZE since the
 * show was created) it may instead sort every free seat of the show (LockRows keeps the sort from
 * being a bounded top-N) or walk every seat of the show, and each hold then costs milliseconds
 * per thousand seats. Recorded so that a slow figure can be told apart from a slow plan.
 */
async function holdPlan (db: Database, showId: string): Promise<HoldPlan> {
  const find = await genericPlan(db, pickSeats(db, showId, 2, 'skip-locked'))
  const free = find.split(/\n\s*CTE /).find((part) => part.startsWith('free\n')) ?? ''
  const mark = await genericPlan(db, markSeats(db, showId, [{ seat_no: 1, booking_id: null }]))
  return {
    free: /Sort Key/.test(free) ? 'sorts every free seat' : 'index order',
    taken: /Index Cond: .*seat_no = /.test(mark) ? 'seat by key' : 'reads every seat'
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
