import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { defaultEngineSettings } from '../../src/config.ts'

/** The bench's knobs and the figures every phase shares. */

export const root = fileURLToPath(new URL('../..', import.meta.url))

function positiveNumber (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, not ${raw}`)
  return value
}

export const scale = positiveNumber('BENCH_SCALE', 1)
export const seconds = positiveNumber('BENCH_SECONDS', 10)
export const scaled = (count: number): number => Math.max(1, Math.round(count * scale))
// The on-sale's admission lasts about this long at its first rate (the rate follows from it).
export const onSaleMinutes = positiveNumber('BENCH_ONSALE_MINUTES', 4)
// The server's hold window, pinned so that the ceiling places exactly the API's holds.
export const holdSeconds = defaultEngineSettings.holdSeconds
export const adminToken = `bench-${randomBytes(16).toString('hex')}`
export const waitingRoomSecret = randomBytes(32).toString('hex')
// The server's pool, sized to the cores PostgreSQL runs on (it runs here): more connections than
// that only queue inside PostgreSQL, where lock and CPU contention lengthen every statement (the
// contract's default of 20 measured worse at p99). PGPOOL_MAX set in the environment wins.
export const poolMax = process.env.PGPOOL_MAX ?? String(os.availableParallelism() * 2 + 2)
// A timed phase stops sending holds at its deadline but waits this long at most for the answers
// still in flight, so that every hold the server made is counted.
export const drainLimitSeconds = 30
// The largest show the server allows by default (MAX_SEATS_PER_SHOW): the flash sale's size.
export const largestShow = defaultEngineSettings.maxSeatsPerShow

export const targets = {
  ceilingShare: 0.5,
  // The keyed flash sale against the plain one.
  keyedShare: 0.8,
  fillRatio: 0.85,
  p99Ms: 60,
  rssMb: 200,
  // The contract: creating a show of the largest allowed size answers within a second.
  createMs: 1000,
  // Holds on a show half of whose seats lapsed unswept, against the plain flash sale.
  lapsedShare: 0.8,
  // Holds of seats together, against the plain flash sale.
  togetherShare: 0.5,
  // A stampede with load shedding at its defaults, against the same with shedding off.
  stampedeShare: 0.7,
  probeMaxMs: 100,
  // The on-sale: joins/s against the flash sale's holds/s; fairness; the admission rate per minute;
  // how soon a rate change shows.
  joinsOverHolds: 3,
  arrivalOrderRho: 0.99,
  drawnOrderRho: 0.05,
  rateDeviation: 0.1,
  rateChangeMs: 5_000
}

export const say = (line: string): void => { process.stdout.write(`${line}\n`) }

export function round (value: number, digits = 1): number {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}
