import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { createShow, holdOf, holdStatements, type Outgoing } from '../api.ts'
import type { Bench, Measured, Phase } from '../context.ts'
import { withPlans } from '../hold-plan.ts'
import { invariantRows, saleInvariants } from '../invariants.ts'
import { timedSale } from '../sale.ts'
import { largestShow, round, say, scaled, seconds, targets } from '../settings.ts'
import { planRow, type Row } from '../table.ts'
import { ceiling } from './ceiling.ts'

/**
 * The flash sale: sales open and everyone hits one show of the largest size. `keyed` sends every
 * hold with an Idempotency-Key of its own, as the README's client does so that it can retry
 * safely: the same sale on a show of its own.
 */
async function flashSale (bench: Bench, keyed: boolean) {
  const seats = scaled(largestShow)
  const phase = keyed ? 'flash sale, keyed' : 'flash sale'
  const creating = performance.now()
  const showId = await createShow(bench.base, `bench: ${phase}`, seats)
  const createMs = Math.round(performance.now() - creating)
  say(`› ${phase}: ${seats} seats, 64 connections holding 2 seats each for ${seconds} s${keyed ? ', each hold with an Idempotency-Key' : ''}`)
  const hold = (): Outgoing => keyed ? { ...holdOf(showId, 2), headers: { 'idempotency-key': randomUUID() } } : holdOf(showId, 2)
  const statementsBefore = await holdStatements(bench.base)
  const { plan, result } = await withPlans(bench.db, showId, async () => await bench.rss.during(phase, async () => await timedSale(bench.base, showId, { connections: 64, hold })))
  const statementsAfter = await holdStatements(bench.base)
  const statements = statementsAfter.count - statementsBefore.count
  const holdsPerStatement = statements > 0 ? round((statementsAfter.holds - statementsBefore.holds) / statements, 1) : 0
  return { phase, keyed, seats, createMs, showId, holdsPerStatement, ...result, plan, invariants: await saleInvariants(bench, showId, seats, result.holds) }
}

export type FlashSale = Awaited<ReturnType<typeof flashSale>>

/** The targets are for the plain flash sale; the keyed one is measured beside it. */
function flashRows (flash: FlashSale, measured: Measured): Row[] {
  const { phase } = flash
  const targeted = !flash.keyed
  const aim = (target: string, pass: boolean): Pick<Row, 'target' | 'pass'> => targeted ? { target, pass } : { target: '' }
  const top = measured.get(ceiling)
  const share = top === undefined || 'skipped' in top || top.holdsPerSecond === 0 ? undefined : flash.holdsPerSecond / top.holdsPerSecond
  const checks = flash.invariants
  return [
    ...(targeted ? [{ phase, metric: `create the show of ${flash.seats} seats (ms)`, value: String(flash.createMs), target: `<= ${targets.createMs}`, pass: flash.createMs <= targets.createMs }] : []),
    { phase, metric: 'holds/s (201s per second, to the last)', value: String(flash.holdsPerSecond), target: '' },
    share === undefined
      ? { phase, metric: 'share of pgbench ceiling', value: top === undefined ? 'not run' : 'skipped', target: targeted ? `>= ${targets.ceilingShare * 100} %` : '' }
      : { phase, metric: 'share of pgbench ceiling', value: `${round(share * 100)} %`, ...aim(`>= ${targets.ceilingShare * 100} %`, share >= targets.ceilingShare) },
    { phase, metric: 'holds per hold statement (mean)', value: String(flash.holdsPerStatement), target: '' },
    { phase, metric: 'p50 latency (ms)', value: String(flash.latencyMs.p50), target: '' },
    { phase, metric: 'p99 latency (ms)', value: String(flash.latencyMs.p99), ...aim(`<= ${targets.p99Ms}`, flash.latencyMs.p99 <= targets.p99Ms) },
    { phase, metric: '201s / non-2xx / errors', value: `${flash.holds} / ${flash.non2xx} / ${flash.errors}`, target: '' },
    {
      phase,
      metric: 'seats free at the end',
      value: checks.availability.available === 0 ? `0 (last 201 at ${flash.lastHeldSeconds} s)` : String(checks.availability.available),
      target: ''
    },
    planRow(phase, flash.plan),
    ...invariantRows(phase, checks),
    ...(flash.keyed ? [{ phase, metric: 'keys recording their booking = 201s', value: `${checks.keysRecorded} vs ${flash.holds}`, target: 'equal', pass: checks.keysRecorded === flash.holds }] : [])
  ]
}

export const plainFlashSale: Phase<FlashSale> = {
  name: 'flash',
  key: 'flashSale',
  run: async (bench) => await flashSale(bench, false),
  rows: flashRows
}

export const keyedFlashSale: Phase<FlashSale> = {
  name: 'keyed',
  key: 'keyedFlashSale',
  run: async (bench) => await flashSale(bench, true),
  rows: flashRows
}
