import { sql } from 'kysely'
import { createShow, holdOf } from '../api.ts'
import type { Bench, Phase } from '../context.ts'
import { withPlans } from '../hold-plan.ts'
import { load } from '../load.ts'
import { say, scaled } from '../settings.ts'
import { planRow, type Row } from '../table.ts'

/** The confirm run: holds, then every one of them confirmed. */
async function confirmRun (bench: Bench) {
  const holds = scaled(5_000)
  const showId = await createShow(bench.base, 'bench: confirm', holds * 2)
  say(`› confirm: ${holds} holds of 2 seats, then confirming them all at 64 connections`)
  const ids: string[] = []
  const { plan, result: holding } = await withPlans(bench.db, showId, async () => await bench.rss.during('confirm', async () => await load(bench.base, {
    connections: 64,
    amount: holds,
    next: () => ({ out: holdOf(showId, 2), tag: undefined }),
    answered: ({ status, body }) => { if (status === 201) ids.push((JSON.parse(body) as { id: string }).id) }
  })))
  let next = 0
  const confirming = ids.length === 0
    ? undefined
    : await bench.rss.during('confirm', async () => await load(bench.base, {
      connections: 64,
      amount: ids.length,
      next: () => ({ out: { method: 'POST', path: `/bookings/${ids[next++ % ids.length]}/confirm` }, tag: undefined })
    }))
  const { rows: [confirmed] } = await sql<{ bookings: number }>`
    SELECT count(*)::int AS bookings FROM bookings WHERE show_id = ${showId} AND status = 'CONFIRMED'`.execute(bench.db)
  return {
    showId,
    holds: ids.length,
    confirmsPerSecond: confirming?.okPerSecond ?? 0,
    p99Ms: confirming?.latencyMs.p99 ?? 0,
    confirmedInDatabase: confirmed?.bookings ?? 0,
    plan,
    holding,
    confirming
  }
}

type ConfirmRun = Awaited<ReturnType<typeof confirmRun>>

function confirmRows (run: ConfirmRun): Row[] {
  return [
    { phase: 'confirm', metric: 'confirms/s', value: String(run.confirmsPerSecond), target: '' },
    { phase: 'confirm', metric: 'p99 latency (ms)', value: String(run.p99Ms), target: '' },
    { phase: 'confirm', metric: 'confirmed in database / holds', value: `${run.confirmedInDatabase} / ${run.holds}`, target: '' },
    planRow('confirm (holds)', run.plan)
  ]
}

export const confirmPhase: Phase<ConfirmRun> = {
  name: 'confirm',
  key: 'confirm',
  run: confirmRun,
  rows: confirmRows
}
