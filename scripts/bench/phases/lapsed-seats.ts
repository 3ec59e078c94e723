import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import type { Database } from '../../../src/db/database.ts'
import { availability, createShow, holdOf } from '../api.ts'
import type { Bench, Measured, Phase } from '../context.ts'
import { withPlans } from '../hold-plan.ts'
import { invariantRows, saleInvariants } from '../invariants.ts'
import { load } from '../load.ts'
import { timedSale } from '../sale.ts'
import { startApi } from '../server.ts'
import { largestShow, round, say, scale, scaled, seconds, targets } from '../settings.ts'
import { planRow, type Row } from '../table.ts'
import { plainFlashSale } from './flash-sale.ts'
import { warmUp } from './warm-up.ts'

const phase = 'lapsed seats'
// The holds that are to lapse last this long: short, since the phase waits it out, yet long enough
// to make them all on a busy machine, in holds of the most seats a server may allow
// (MAX_SEATS_PER_BOOKING's maximum).
const lapseSeconds = Math.max(2, Math.ceil(10 * scale))
const largestHold = 1000
// No sweep runs while the phase does: its seats stay lapsed, still marked with their old holder.
const noSweep = { EXPIRY_JOB_INTERVAL_SECONDS: '3600' }

/** The quantities that hold `seats` seats in holds of at most `largestHold`. */
const holdsFor = (seats: number): number[] =>
  Array.from({ length: Math.ceil(seats / largestHold) }, (_, index) => Math.min(largestHold, seats - index * largestHold))

/** Seats whose hold lapsed and that no sweep has let go of. */
async function lapsedSeatCount (db: Database, showId: string): Promise<number> {
  const { rows: [lapsed] } = await sql<{ seats: number }>`
    SELECT count(*)::int AS seats FROM seats
    WHERE show_id = ${showId} AND booking_id IS NOT NULL AND hold_expires_at <= now()`.execute(db)
  return lapsed?.seats ?? 0
}

/** Waits, by the database's clock, until the last hold of the show has lapsed. */
async function untilLapsed (db: Database, showId: string): Promise<void> {
  const { rows: [left] } = await sql<{ seconds: number }>`
    SELECT coalesce(extract(epoch FROM max(hold_expires_at) - now()), 0)::float8 AS seconds
    FROM seats WHERE show_id = ${showId}`.execute(db)
  await sleep(Math.max(0, (left?.seconds ?? 0) * 1000) + 50)
}

/**
 * A flash sale on a show half of whose seats were held and lapsed, and were not swept: holds must
 * take lapsed seats as readily as never-held ones. The holds that lapse are made by a server with a
 * short hold window; the sale runs on another, with the bench's window, so that its own holds do
 * not lapse while it runs. Neither sweeps, and both use a database of their own, where the main
 * server's sweep cannot reach.
 */
async function lapsedSeats (bench: Bench) {
  const seats = scaled(largestShow)
  const lapsing = Math.floor(seats / 2)
  const { url, db } = await bench.freshDatabase()
  const [holder, seller] = await Promise.all([
    startApi(url, { ...noSweep, HOLD_WINDOW_SECONDS: String(lapseSeconds), MAX_SEATS_PER_BOOKING: String(largestHold) }),
    startApi(url, noSweep)
  ])
  const showId = await createShow(seller.base, `bench: ${phase}`, seats)
  const quantities = holdsFor(lapsing)
  say(`› ${phase}: ${lapsing} of ${seats} seats held for ${lapseSeconds} s and left to lapse unswept, then 64 connections holding 2 seats each for ${seconds} s`)
  let next = 0
  const holding = await load<undefined>(holder.base, {
    connections: 4,
    amount: quantities.length,
    next: () => ({ out: holdOf(showId, quantities[next++ % quantities.length]!), tag: undefined })
  })
  await holder.stop()
  await warmUp(seller.base, `${phase}: warm-up`)
  await untilLapsed(db, showId)
  const lapsedAtStart = await lapsedSeatCount(db, showId)
  const { plan, result } = await withPlans(db, showId, async () => await timedSale(seller.base, showId, { connections: 64 }))
  const invariants = await saleInvariants({ base: seller.base, db }, showId, seats, result.holds)
  const free = (await availability(seller.base, showId)).available
  await seller.stop()
  return { seats, showId, lapseSeconds, lapsing, holding, lapsedAtStart, ...result, free, plan, invariants }
}

type LapsedSeats = Awaited<ReturnType<typeof lapsedSeats>>

function lapsedRows (run: LapsedSeats, measured: Measured): Row[] {
  const flash = measured.get(plainFlashSale)
  const share = flash === undefined || flash.holdsPerSecond === 0 ? undefined : run.holdsPerSecond / flash.holdsPerSecond
  const aim = `>= ${targets.lapsedShare * 100} %`
  return [
    { phase, metric: 'seats lapsed unswept at the start', value: `${run.lapsedAtStart} of ${run.seats}`, target: String(run.lapsing), pass: run.lapsedAtStart === run.lapsing },
    { phase, metric: 'holds/s (201s per second, to the last)', value: String(run.holdsPerSecond), target: '' },
    share === undefined
      ? { phase, metric: "share of the flash sale's holds/s", value: 'no flash sale to compare', target: aim }
      : { phase, metric: "share of the flash sale's holds/s", value: `${round(share * 100)} %`, target: aim, pass: share >= targets.lapsedShare },
    { phase, metric: 'p99 latency (ms), flash sale beside', value: `${run.latencyMs.p99} (${flash?.latencyMs.p99 ?? '-'})`, target: '' },
    { phase, metric: '201s / non-2xx / errors', value: `${run.holds} / ${run.non2xx} / ${run.errors}`, target: '' },
    { phase, metric: 'seats free at the end', value: run.free === 0 ? `0 (last 201 at ${run.lastHeldSeconds} s)` : String(run.free), target: '' },
    planRow(phase, run.plan),
    ...invariantRows(phase, run.invariants)
  ]
}

export const lapsedSeatsPhase: Phase<LapsedSeats> = {
  name: 'lapsed',
  key: 'lapsedSeats',
  needs: [plainFlashSale],
  run: lapsedSeats,
  rows: lapsedRows
}
