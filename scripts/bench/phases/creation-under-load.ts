import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { createShow, postShow } from '../api.ts'
import type { Bench, Phase } from '../context.ts'
import { invariantRows, saleInvariants } from '../invariants.ts'
import { timedSale } from '../sale.ts'
import { largestShow, say, scaled, seconds, targets } from '../settings.ts'
import type { Row } from '../table.ts'

const phase = 'creation under load'

/**
 * Creating a show of the largest size while a flash sale runs on another: the contract's second
 * holds when sales are busy too, not only on a quiet server. The creation starts once the sale is
 * in its stride, a quarter of the sale in (at most a second).
 */
async function creationUnderLoad (bench: Bench) {
  const seats = scaled(largestShow)
  const saleShowId = await createShow(bench.base, `bench: sale beside a creation`, seats)
  say(`› ${phase}: a show of ${seats} seats created while 64 connections hold 2 seats each on another for ${seconds} s`)
  let creating: { from: number, to?: number } | undefined
  let holdsDuringCreation = 0
  let firstHold = (): void => {}
  const selling = new Promise<void>((resolve) => { firstHold = resolve })
  const sale = bench.rss.during(phase, async () => await timedSale(bench.base, saleShowId, {
    connections: 64,
    answered: ({ status }) => {
      if (status !== 201) return
      firstHold()
      if (creating !== undefined && creating.to === undefined) holdsDuringCreation++
    }
  }))
  // A sale that never holds still ends, and the creation then runs on a quiet server, as its row shows.
  await Promise.race([selling, sale])
  await sleep(Math.min(1000, seconds * 250))
  creating = { from: performance.now() }
  const { status } = await postShow(bench.base, 'bench: created under load', seats)
  creating.to = performance.now()
  const result = await sale
  return {
    seats,
    createStatus: status,
    createMs: Math.round(creating.to - creating.from),
    holdsDuringCreation,
    saleShowId,
    sale: result,
    invariants: await saleInvariants(bench, saleShowId, seats, result.holds)
  }
}

type CreationUnderLoad = Awaited<ReturnType<typeof creationUnderLoad>>

function creationRows (run: CreationUnderLoad): Row[] {
  const created = run.createStatus === 201
  return [
    {
      phase,
      metric: `create a show of ${run.seats} seats (ms)`,
      value: created ? String(run.createMs) : `${run.createMs} (answered ${run.createStatus})`,
      target: `<= ${targets.createMs}`,
      pass: created && run.createMs <= targets.createMs
    },
    { phase, metric: 'holds answered during the creation', value: String(run.holdsDuringCreation), target: '' },
    { phase, metric: 'sale holds/s / p99 (ms)', value: `${run.sale.holdsPerSecond} / ${run.sale.latencyMs.p99}`, target: '' },
    ...invariantRows(phase, run.invariants)
  ]
}

export const creationUnderLoadPhase: Phase<CreationUnderLoad> = {
  name: 'creation',
  key: 'creationUnderLoad',
  run: creationUnderLoad,
  rows: creationRows
}
