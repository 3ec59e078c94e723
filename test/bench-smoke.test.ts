import { spawn } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = fileURLToPath(new URL('..', import.meta.url))

interface Run { code: number | null, stdout: string, stderr: string }

async function runBench (settings: Record<string, string> = {}): Promise<Run> {
  // Not under tap's instrumentation: the bench and its server must load as `make bench` loads them.
  // TEST_DATABASE_URL passes through, so the bench uses the suite's PostgreSQL server.
  const { NODE_OPTIONS: _options, NODE_V8_COVERAGE: _coverage, ...env } = process.env
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench/run.ts'], {
    cwd: root,
    env: { ...env, BENCH_SCALE: '0.01', BENCH_SECONDS: '1', ...settings },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  // A backstop for a bench that hangs, below tap's timeout (.taprc) and well past a run on a busy
  // machine, where each of its five server processes takes seconds to start. SIGINT lets the bench
  // stop its servers and drop its databases before it goes.
  const timer = setTimeout(() => child.kill('SIGINT'), 200_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

t.test('the bench runs end to end at a tiny scale and reports what it checked', async (t) => {
  const run = await runBench()
  t.equal(run.code, 0, 'the bench exits 0', { stdout: run.stdout, stderr: run.stderr })
  t.match(run.stdout, /^phase\s+metric\s+value\s+target\s+pass\/fail$/m, 'it prints the table')
  for (const phase of ['flash sale', 'fill curve', 'sell-out', 'confirm', 'ceiling', 'creation under load', 'lapsed seats', 'stampede, default', 'stampede, shedding off', 'server']) {
    t.match(run.stdout, new RegExp(`^${phase}\\s`, 'm'), `the table has ${phase} rows`)
  }

  const written = /results written to (\S+\.json)/.exec(run.stdout)?.[1]
  if (written === undefined) return t.fail('it names the results file')
  const file = path.resolve(root, written)
  // A smoke run's figures are meaningless; keep bench/results/ for real measurements.
  t.teardown(async () => await rm(file, { force: true }))
  const results = JSON.parse(await readFile(file, 'utf8')) as Record<string, any>
  for (const key of ['startedAt', 'settings', 'environment', 'flashSale', 'fillCurve', 'sellOut', 'confirm', 'ceiling', 'creationUnderLoad', 'lapsedSeats', 'stampede', 'server', 'rows']) {
    t.ok(key in results, `the results have ${key}`)
  }
  t.match(results.settings, { scale: 0.01, seconds: 1 }, 'the knobs reached the bench')

  const flash = results.flashSale
  t.ok(flash.holds > 0, 'the flash sale made holds')
  t.same(flash.invariants.ok, { noSeatInTwoLiveBookings: true, heldSeatsMatch201s: true, availabilityAddsUp: true }, 'the flash sale invariants hold')

  const sale = results.sellOut
  t.equal(sale.falseSoldOut, 0, 'no false sold-out')
  t.equal(sale.errors, 0, 'no errors in the sell-out')
  t.equal(sale.otherConflicts, 0, 'no 409 other than insufficient_seats in the sell-out')
  t.ok(sale.seatsAddUp, 'seats held by the 201s plus free seats make the show')

  t.equal(results.fillCurve.phases.length, 5, 'five fill phases')
  t.equal(results.confirm.confirmedInDatabase, results.confirm.holds, 'every hold was confirmed')
  t.ok(results.server.peakRssMb > 0, 'the server RSS was sampled')

  const creation = results.creationUnderLoad
  t.equal(creation.createStatus, 201, 'the show created under load was created')
  t.ok(creation.sale.holds > 0, 'the sale beside the creation made holds')

  const lapsed = results.lapsedSeats
  t.equal(lapsed.lapsedAtStart, lapsed.lapsing, 'half the seats had lapsed unswept when the sale opened')
  t.ok(lapsed.holds > 0, 'the sale on lapsed seats made holds')
  t.same(lapsed.invariants.ok, { noSeatInTwoLiveBookings: true, heldSeatsMatch201s: true, availabilityAddsUp: true }, 'the lapsed-seat sale invariants hold')

  for (const run of [results.stampede.default, results.stampede.sheddingOff]) {
    t.ok(run.holds > 0, `the stampede (${run.name}) made holds`)
    t.ok(run.probed.health.polls > 0 && run.probed.ready.polls > 0, `the stampede (${run.name}) polled /health and /ready`)
    t.same(run.invariants.ok, { noSeatInTwoLiveBookings: true, heldSeatsMatch201s: true, availabilityAddsUp: true }, `the stampede (${run.name}) invariants hold`)
  }
})

t.test('BENCH_PHASES names the phases to run, and an unknown name fails before anything starts', async (t) => {
  const run = await runBench({ BENCH_PHASES: 'stampede,nonsense' })
  t.equal(run.code, 1, 'the bench exits 1')
  t.match(run.stderr, /BENCH_PHASES: no phase nonsense; the phases are flash, keyed, fill, sell-out, confirm, ceiling, creation, lapsed, stampede/, 'it names the phases there are')
})
