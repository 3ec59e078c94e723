import { availability, createShow, holdOf } from '../api.ts'
import type { Bench, Phase } from '../context.ts'
import { withPlans } from '../hold-plan.ts'
import { load, type LoadResult } from '../load.ts'
import { round, say, scaled, targets } from '../settings.ts'
import { planRow, type Row } from '../table.ts'

/** The fill curve: does holding get slower as the show fills? Five equal runs of holds on one show. */
async function fillCurve (bench: Bench) {
  const holdsPerPhase = scaled(2_000)
  const seats = holdsPerPhase * 2 * 5
  const showId = await createShow(bench.base, 'bench: fill curve', seats)
  say(`› fill curve: ${seats} seats in five phases of ${holdsPerPhase} holds, 32 connections`)
  const phases: Array<LoadResult & { phase: number, holdsPerSecond: number }> = []
  const { plan } = await withPlans(bench.db, showId, async () => {
    for (let phase = 1; phase <= 5; phase++) {
      const result = await bench.rss.during('fill curve', async () => await load(bench.base, {
        connections: 32,
        amount: holdsPerPhase,
        next: () => ({ out: holdOf(showId, 2), tag: undefined })
      }))
      phases.push({ phase, holdsPerSecond: result.okPerSecond, ...result })
    }
  })
  const first = phases[0]?.holdsPerSecond ?? 0
  const last = phases[phases.length - 1]?.holdsPerSecond ?? 0
  return { seats, showId, holdsPerPhase, plan, phases, lastToFirst: first > 0 ? round(last / first, 3) : 0, free: (await availability(bench.base, showId)).available }
}

type FillCurve = Awaited<ReturnType<typeof fillCurve>>

function fillRows (fill: FillCurve): Row[] {
  return [
    ...fill.phases.map((phase) => ({ phase: 'fill curve', metric: `phase ${phase.phase} holds/s`, value: String(phase.holdsPerSecond), target: '' })),
    { phase: 'fill curve', metric: 'last / first', value: String(fill.lastToFirst), target: `>= ${targets.fillRatio}`, pass: fill.lastToFirst >= targets.fillRatio },
    planRow('fill curve', fill.plan)
  ]
}

export const fillCurvePhase: Phase<FillCurve> = {
  name: 'fill',
  key: 'fillCurve',
  run: fillCurve,
  rows: fillRows
}
