import { randomInt } from 'node:crypto'
import type { Database } from '../../../src/db/database.ts'
import { findFreeRuns, showLayout } from '../../../src/engine/hold-statements.ts'
import { freeSeatsOf, freeSummary, layoutOf, take, type FreeSeats, type Layout } from '../../../src/engine/seat-blocks.ts'
import { createShow, togetherOf, type SeatRow } from '../api.ts'
import type { Bench, Measured, Phase } from '../context.ts'
import { invariantRows, seatInvariants } from '../invariants.ts'
import { load, type Answer } from '../load.ts'
import { round, say, scaled, targets } from '../settings.ts'
import type { Row } from '../table.ts'
import { plainFlashSale } from './flash-sale.ts'

const phase = 'together'
const seatsPerRow = 50
const [fewest, most] = [2, 6]

/** Row labels of letters only, AA, AB, ...: with digits, row 1 seat 12 and row 11 seat 2 would both be 112. */
const rowLabel = (index: number): string => String.fromCharCode(65 + Math.floor(index / 26), 65 + (index % 26))

/** Seats left free with no free neighbour in their row: no party of two or more can have them. */
const singles = (free: FreeSeats): number => free.flat().filter((run) => run.first === run.last).length

/** The show's free seats as the engine reads them: runs of adjacent free seats, by row. */
async function freeSeats (db: Database, showId: string): Promise<{ layout: Layout, free: FreeSeats }> {
  const layout = layoutOf(await showLayout(db, showId).executeTakeFirstOrThrow())
  return { layout, free: freeSeatsOf(layout, await findFreeRuns(db, showId).execute()) }
}

/**
 * What lowest-seat-first would have left on the same storm: each hold, in the order the server
 * answered them, given the lowest block of its size (the first row with room, its lowest seats).
 */
function lowestFirst (layout: Layout, quantities: number[]): FreeSeats {
  const free: FreeSeats = layout.rows.map((row) => [{ first: 1, last: row.seats }])
  for (const seats of quantities) {
    const row = free.findIndex((runs) => runs.some((run) => run.last - run.first + 1 >= seats))
    if (row === -1) continue
    const run = free[row]!.find((candidate) => candidate.last - candidate.first + 1 >= seats)!
    take(free, { row, first: run.first, seats })
  }
  return free
}

/** The booking's seat labels are one row's consecutive numbers. */
function oneBlock (labels: string[]): boolean {
  const seats = labels.map((label) => /^([A-Z]+)(\d+)$/.exec(label)!)
  return seats.every((seat, index) => index === 0 || (seat[1] === seats[0]![1] && Number(seat[2]) === Number(seats[index - 1]![2]) + 1))
}

/**
 * A sale of seats together: 64 connections hold 2-6 seats together each on a show of rows of 50
 * until it is sold out (one request per seat of the show: more than enough, since each hold asks
 * for two seats at least). Seats only leave the free ones while it runs (no cancel, no confirm, no
 * hold ends), so a block free at the end was free throughout: a refusal of a party that such a
 * block would seat was false.
 */
async function togetherSale (bench: Bench) {
  const rows: SeatRow[] = Array.from({ length: scaled(200) }, (_, index) => ({ label: rowLabel(index), seats: seatsPerRow }))
  const seats = rows.length * seatsPerRow
  const showId = await createShow(bench.base, 'bench: together', rows)
  say(`› ${phase}: ${rows.length} rows of ${seatsPerRow} seats, 64 connections holding ${fewest}-${most} seats together each until sold out`)
  const answers: Array<Answer<number>> = []
  const result = await bench.rss.during(phase, async () => await load<number>(bench.base, {
    connections: 64,
    amount: seats,
    next: () => {
      const quantity = randomInt(fewest, most + 1)
      return { out: togetherOf(showId, quantity), tag: quantity }
    },
    answered: (answer) => { answers.push(answer) }
  }))
  const holds = answers.filter((answer) => answer.status === 201)
  const refusals = answers.filter((answer) => answer.status === 409 && answer.code === 'no_adjacent_seats')
  const { layout, free } = await freeSeats(bench.db, showId)
  const left = freeSummary(free)
  const lastHeldMs = Math.max(0, ...holds.map((answer) => answer.atMs))
  const heldSeats = holds.reduce((sum, answer) => sum + answer.tag, 0)
  return {
    showId,
    rows: rows.length,
    seats,
    requests: answers.length,
    holds: holds.length,
    holdsPerSecond: lastHeldMs > 0 ? round(holds.length / (lastHeldMs / 1000), 1) : 0,
    lastHeldSeconds: round(lastHeldMs / 1000, 2),
    latencyMs: result.latencyMs,
    refusals: refusals.length,
    falseRefusals: refusals.filter((answer) => answer.tag <= left.largestBlock).length,
    otherAnswers: answers.length - holds.length - refusals.length + result.errors,
    notOneBlock: holds.filter((answer) => !oneBlock((JSON.parse(answer.body) as { seats: string[] }).seats)).length,
    freeAtEnd: left.available,
    largestBlockAtEnd: left.largestBlock,
    singlesLeft: singles(free),
    singlesLeftLowestFirst: singles(lowestFirst(layout, answers.map((answer) => answer.tag))),
    invariants: await seatInvariants(bench, showId, seats, { seats: heldSeats, rule: "the 201s' seats", unanswered: result.errors, seatsPerUnanswered: most }),
    load: result
  }
}

type TogetherSale = Awaited<ReturnType<typeof togetherSale>>

function togetherRows (sale: TogetherSale, measured: Measured): Row[] {
  const flash = measured.get(plainFlashSale)
  const share = flash === undefined || flash.holdsPerSecond === 0 ? undefined : sale.holdsPerSecond / flash.holdsPerSecond
  const aim = `>= ${targets.togetherShare * 100} %`
  return [
    { phase, metric: 'holds/s (201s per second, to the last)', value: String(sale.holdsPerSecond), target: '' },
    share === undefined
      ? { phase, metric: "share of the flash sale's holds/s", value: 'no flash sale to compare', target: aim }
      : { phase, metric: "share of the flash sale's holds/s", value: `${round(share * 100)} %`, target: aim, pass: share >= targets.togetherShare },
    { phase, metric: 'p50 / p99 latency (ms)', value: `${sale.latencyMs.p50} / ${sale.latencyMs.p99}`, target: '' },
    { phase, metric: '201s / 409 no_adjacent_seats / other', value: `${sale.holds} / ${sale.refusals} / ${sale.otherAnswers}`, target: '0 other', pass: sale.otherAnswers === 0 },
    { phase, metric: 'false no_adjacent_seats (a block that fits free at the end)', value: String(sale.falseRefusals), target: '0', pass: sale.falseRefusals === 0 },
    { phase, metric: 'holds not one block of one row', value: String(sale.notOneBlock), target: '0', pass: sale.notOneBlock === 0 },
    { phase, metric: 'seats free at the end / largest block', value: `${sale.freeAtEnd} / ${sale.largestBlockAtEnd} (last 201 at ${sale.lastHeldSeconds} s)`, target: `largest < ${fewest}`, pass: sale.largestBlockAtEnd < fewest },
    { phase, metric: 'single free seats left alone (lowest-seat-first: same storm)', value: `${sale.singlesLeft} (${sale.singlesLeftLowestFirst})`, target: '' },
    ...invariantRows(phase, sale.invariants)
  ]
}

export const togetherPhase: Phase<TogetherSale> = {
  name: 'together',
  key: 'together',
  needs: [plainFlashSale],
  run: togetherSale,
  rows: togetherRows
}
