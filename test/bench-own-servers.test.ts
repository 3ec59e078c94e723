import t from 'tap'
import { benchResults, invariantsHold, runBench } from './helpers/bench.ts'

// The bench's phases that start servers of their own with other settings; bench-smoke.test.ts runs the others.
t.test('creation under load, lapsed seats and the stampede run at a tiny scale and report what they checked', async (t) => {
  const run = await runBench({ BENCH_PHASES: 'creation,lapsed,stampede' })
  t.equal(run.code, 0, 'the bench exits 0', { stdout: run.stdout, stderr: run.stderr })
  for (const phase of ['flash sale', 'creation under load', 'lapsed seats', 'stampede, default', 'stampede, shedding off', 'stampede']) {
    t.match(run.stdout, new RegExp(`^${phase}\\s`, 'm'), `the table has ${phase} rows`)
  }

  const results = await benchResults(t, run)
  if (results === undefined) return
  t.same(results.settings.phases, ['flash', 'creation', 'lapsed', 'stampede'], 'the flash sale, which the lapsed seats compare against, came along')
  t.notOk('fillCurve' in results, 'a phase not asked for did not run')

  const creation = results.creationUnderLoad
  t.equal(creation.createStatus, 201, 'the show created under load was created')
  t.ok(creation.sale.holds > 0, 'the sale beside the creation made holds')
  t.same(creation.invariants.ok, invariantsHold, 'the invariants of the sale beside the creation hold')

  const lapsed = results.lapsedSeats
  t.equal(lapsed.lapsedAtStart, lapsed.lapsing, 'half the seats had lapsed unswept when the sale opened')
  t.ok(lapsed.holds > 0, 'the sale on lapsed seats made holds')
  t.same(lapsed.invariants.ok, invariantsHold, 'the lapsed-seat sale invariants hold')

  for (const stampede of [results.stampede.default, results.stampede.sheddingOff]) {
    t.ok(stampede.holds > 0, `the stampede (${stampede.name}) made holds`)
    for (const [port, { health, ready }] of Object.entries<{ health: { polls: number }, ready: { polls: number } }>(stampede.probed)) {
      t.ok(health.polls > 0 && ready.polls > 0, `the stampede (${stampede.name}) polled /health and /ready on the ${port}`)
    }
    t.same(Object.keys(stampede.probed).sort(), ['main port', 'management port'], `the stampede (${stampede.name}) probed both ports`)
    t.same(stampede.invariants.ok, invariantsHold, `the stampede (${stampede.name}) invariants hold`)
  }
})
