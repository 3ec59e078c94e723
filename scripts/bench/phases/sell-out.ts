import { randomInt } from 'node:crypto'
import { availability, createShow, holdOf } from '../api.ts'
import type { Bench, Phase } from '../context.ts'
import { withPlans } from '../hold-plan.ts'
import { load, type Answer } from '../load.ts'
import { round, say, scaled } from '../settings.ts'
import { planRow, yes, type Row } from '../table.ts'

/** The sell-out: more holds of 1-4 seats than the show has seats; no hold may be refused while seats remain. */
async function sellOut (bench: Bench) {
  const seats = scaled(1_000)
  const requests = scaled(4_000)
  const showId = await createShow(bench.base, 'bench: sell-out', seats)
  say(`› sell-out: ${seats} seats, ${requests} holds of 1-4 seats, 64 connections`)
  const answers: Array<Answer<number>> = []
  const { plan, result } = await withPlans(bench.db, showId, async () => await bench.rss.during('sell-out', async () => await load<number>(bench.base, {
    connections: 64,
    amount: requests,
    next: () => {
      const quantity = randomInt(1, 5)
      return { out: holdOf(showId, quantity), tag: quantity }
    },
    answered: (answer) => { answers.push({ ...answer, body: '' }) }
  })))
  const counts = await availability(bench.base, showId)
  const holds = answers.filter((answer) => answer.status === 201)
  const seatsHeld = holds.reduce((sum, answer) => sum + answer.tag, 0)
  const refusals = answers.filter((answer) => answer.status === 409 && answer.code === 'insufficient_seats')
  // Seats only ever leave the pool here (no cancels, no lapses), so a seat free at the end was free
  // all along: a refusal that asked for no more than that was a false "sold out".
  const falseSoldOut = refusals.filter((answer) => answer.tag <= counts.available).length
  const unexpected = answers.filter((answer) => answer.status !== 201 && answer.status !== 409).length
  // A 409 other than insufficient_seats (sales_closed, say) would be as wrong here as a 500.
  const otherConflicts = answers.filter((answer) => answer.status === 409 && answer.code !== 'insufficient_seats').length
  return {
    seats,
    showId,
    requests,
    soldOutAfterMs: round(Math.max(0, ...holds.map((answer) => answer.atMs)), 1),
    holds: holds.length,
    seatsHeld,
    insufficientSeats: refusals.length,
    freeAtEnd: counts.available,
    falseSoldOut,
    errors: unexpected + result.errors,
    otherConflicts,
    seatsAddUp: seatsHeld === seats - counts.available,
    plan,
    load: result
  }
}

type SellOut = Awaited<ReturnType<typeof sellOut>>

function sellOutRows (sale: SellOut): Row[] {
  return [
    { phase: 'sell-out', metric: 'time to sold out (ms, last 201)', value: String(sale.soldOutAfterMs), target: '' },
    { phase: 'sell-out', metric: '201s / 409 insufficient / free at end', value: `${sale.holds} / ${sale.insufficientSeats} / ${sale.freeAtEnd}`, target: '' },
    { phase: 'sell-out', metric: 'false sold-outs', value: String(sale.falseSoldOut), target: '0', pass: sale.falseSoldOut === 0 },
    { phase: 'sell-out', metric: 'errors (non-201/409 + 409 other)', value: `${sale.errors} + ${sale.otherConflicts}`, target: '0', pass: sale.errors === 0 && sale.otherConflicts === 0 },
    { phase: 'sell-out', metric: 'seats held = seats - free', value: yes(sale.seatsAddUp), target: 'yes', pass: sale.seatsAddUp },
    planRow('sell-out', sale.plan)
  ]
}

export const sellOutPhase: Phase<SellOut> = {
  name: 'sell-out',
  key: 'sellOut',
  run: sellOut,
  rows: sellOutRows
}
