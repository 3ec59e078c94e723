/**
 * `make explain-hold`: the hold statement's plan while seats lapse. On a fresh database (found like
 * the tests find theirs) it creates a show of EXPLAIN_SEATS seats (100,000), holds the first half
 * with a ten-second window, lets those holds lapse unswept, then prints EXPLAIN (ANALYZE, BUFFERS)
 * of the skip-locked seat search for a batch of 64 holds of 2 seats, rolled back: what every
 * hold of the show costs until the sweep runs. docs/design.md shows its output.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { createDatabase, dropDatabase, ensureDatabase, withDatabaseName } from '../src/db/database.ts'
import { dbmate } from '../src/db/migrations.ts'
import { createBookingEngine } from '../src/engine/index.ts'
import { pickSeats } from '../src/engine/hold-statements.ts'
import { startTestServer } from './postgres-server.ts'

const seats = Number(process.env.EXPLAIN_SEATS ?? 100_000)
const perHold = 1000
const server = await startTestServer()
const name = `booking_explain_${process.pid}`
const url = withDatabaseName(server.url, name)
const { db } = createDatabase({ url, poolMax: 2 })
try {
  await ensureDatabase(server.url, name)
  await dbmate(url, ['up'])
  // Long enough for every hold to be made before the first one ends.
  const engine = createBookingEngine(db, { holdSeconds: 10, maxHoldSeconds: 900, maxSeatsPerBooking: perHold, maxSeatsPerShow: seats })
  const show = await engine.createShow({ name: 'Lapsed seats', start_time: new Date(Date.now() + 86_400_000).toISOString(), total_seats: seats })
  let last = await engine.hold({ showId: show.id, quantity: perHold })
  for (let held = perHold; held < seats / 2; held += perHold) last = await engine.hold({ showId: show.id, quantity: perHold })
  await sleep(Date.parse(last.hold_expires_at) - Date.now() + 500)
  await sql`ANALYZE seats`.execute(db)
  // The seats for a batch of 64 holds of 2: the statement whose cost lapsed seats could grow.
  const statement = pickSeats(db, show.id, 128, 'skip-locked')
  // EXPLAIN ANALYZE runs the statement: in a transaction that is rolled back, the seats stay lapsed.
  const rolledBack = new Error('rolled back')
  let plan: string[] = []
  await db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN (ANALYZE, BUFFERS) ${statement}`.execute(trx)
    plan = rows.map((row) => row['QUERY PLAN'])
    throw rolledBack
  }).catch((error: unknown) => { if (error !== rolledBack) throw error })
  process.stdout.write(`${seats / 2} of ${seats} seats lapsed, unswept; 64 holds of 2 seats:\n\n${plan.join('\n')}\n`)
} finally {
  await db.destroy()
  await dropDatabase(server.url, name)
  await server.stop()
}
