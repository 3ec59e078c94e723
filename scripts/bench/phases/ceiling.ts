import { performance } from 'node:perf_hooks'
import { sql } from 'kysely'
import { createDatabase, type Database } from '../../../src/db/database.ts'
import { createShardRanges } from '../../../src/engine/booking-ids.ts'
import { holdBatch } from '../../../src/engine/holds.ts'
import { createShow } from '../api.ts'
import type { Bench, Phase } from '../context.ts'
import { withPlans } from '../hold-plan.ts'
import { holdSeconds, largestShow, round, say, scaled, seconds } from '../settings.ts'
import { planRow, type Row } from '../table.ts'

/**
 * The ceiling: the engine's hold transaction with one hold each, called straight from 64
 * concurrent callers on their own connections, without HTTP: what the database and the driver do
 * for lone holds. The API places concurrent holds of one show together in one transaction, so it
 * can exceed that ceiling.
 */

/** 64 callers unless the server has fewer connections to spare (other test files may be running). */
async function spareConnections (db: Database): Promise<number> {
  const { rows: [spare] } = await sql<{ slots: number }>`
    SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
           - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS slots`.execute(db)
  return Math.max(1, Math.min(64, (spare?.slots ?? 64) - 4))
}

async function measureCeiling (bench: Bench) {
  const seats = scaled(largestShow)
  const showId = await createShow(bench.base, 'bench: ceiling', seats)
  const callers = await spareConnections(bench.db)
  say(`› ceiling: the engine's hold transaction, one hold of 2 seats each, ${callers} callers for ${seconds} s on ${seats} seats`)
  const { db } = createDatabase({ url: bench.databaseUrl, poolMax: callers, applicationName: 'booking-bench-ceiling' })
  try {
    let holds = 0
    let transactions = 0
    let lastHeldMs = 0
    const terms = { holdSeconds, idRange: await createShardRanges(db).of(showId) }
    const started = performance.now()
    const until = started + seconds * 1000
    const caller = async (): Promise<void> => {
      while (performance.now() < until) {
        const [outcome] = await holdBatch(db, showId, [{ quantity: 2 }], terms)
        transactions++
        if (outcome?.kind === 'granted') {
          holds++
          lastHeldMs = performance.now() - started
        }
      }
    }
    const { plan } = await withPlans(bench.db, showId, async () => await Promise.all(Array.from({ length: callers }, caller)))
    // Once the show runs out, transactions hold nothing and run faster: count holds, not transactions.
    return { showId, seats, callers, transactions, holds, holdsPerSecond: lastHeldMs > 0 ? round(holds / (lastHeldMs / 1000), 1) : 0, plan }
  } finally {
    await db.destroy()
  }
}

type Ceiling = Awaited<ReturnType<typeof measureCeiling>>

function ceilingRows (top: Ceiling): Row[] {
  return [
    { phase: 'ceiling', metric: `lone holds/s, no HTTP (${top.callers} callers)`, value: String(top.holdsPerSecond), target: '' },
    { phase: 'ceiling', metric: 'transactions / holds', value: `${top.transactions} / ${top.holds}`, target: '' },
    planRow('ceiling', top.plan)
  ]
}

export const ceiling: Phase<Ceiling> = {
  name: 'ceiling',
  key: 'ceiling',
  run: measureCeiling,
  rows: ceilingRows
}
