import t from 'tap'
import { benchResults, invariantsHold, runBench } from './helpers/bench.ts'

// The phases on the main server; bench-own-servers.test.ts runs those that start servers of their own.
const phases = 'flash,keyed,fill,sell-out,together,confirm,ceiling,on-sale'

t.test('the bench runs end to end at a tiny scale and reports what it checked', async (t) => {
  // The on-sale's admission lasts about 6 s at this scale.
  const run = await runBench({ BENCH_PHASES: phases, BENCH_ONSALE_MINUTES: '0.1' })
  t.equal(run.code, 0, 'the bench exits 0', { stdout: run.stdout, stderr: run.stderr })
  t.match(run.stdout, /^phase\s+metric\s+value\s+target\s+pass\/fail$/m, 'it prints the table')
  for (const phase of ['flash sale', 'fill curve', 'sell-out', 'together', 'confirm', 'ceiling', 'on-sale', 'server']) {
    t.match(run.stdout, new RegExp(`^${phase}\\s`, 'm'), `the table has ${phase} rows`)
  }

  const results = await benchResults(t, run)
  if (results === undefined) return
  for (const key of ['startedAt', 'settings', 'environment', 'flashSale', 'keyedFlashSale', 'fillCurve', 'sellOut', 'together', 'confirm', 'ceiling', 'onSale', 'server', 'rows']) {
    t.ok(key in results, `the results have ${key}`)
  }
  t.match(results.settings, { scale: 0.01, seconds: 1, phases: phases.split(',') }, 'the knobs reached the bench')

  const flash = results.flashSale
  t.ok(flash.holds > 0, 'the flash sale made holds')
  t.same(flash.invariants.ok, invariantsHold, 'the flash sale invariants hold')

  const sale = results.sellOut
  t.equal(sale.falseSoldOut, 0, 'no false sold-out')
  t.equal(sale.errors, 0, 'no errors in the sell-out')
  t.equal(sale.otherConflicts, 0, 'no 409 other than insufficient_seats in the sell-out')
  t.ok(sale.seatsAddUp, 'seats held by the 201s plus free seats make the show')

  const together = results.together
  t.ok(together.holds > 0, 'the sale of seats together made holds')
  t.equal(together.falseRefusals, 0, 'no false no_adjacent_seats')
  t.equal(together.otherAnswers, 0, 'every hold together answered 201 or no_adjacent_seats')
  t.equal(together.notOneBlock, 0, 'every hold together is one block of one row')
  t.ok(together.largestBlockAtEnd < 2, 'sold out: no two adjacent seats left')
  t.same(together.invariants.ok, invariantsHold, 'the invariants of the sale of seats together hold')

  t.equal(results.fillCurve.phases.length, 5, 'five fill phases')
  t.equal(results.confirm.confirmedInDatabase, results.confirm.holds, 'every hold was confirmed')
  t.ok(results.server.peakRssMb > 0, 'the server RSS was sampled')

  const onSale = results.onSale
  t.equal(onSale.joined, onSale.buyers, 'every buyer joined the queue')
  t.ok(onSale.holds.ok > 0, 'admitted buyers held seats')
  t.same(onSale.tokenProbes, [403, 403, 403], 'holds without a valid token were refused')
  t.equal(onSale.bookingsWithoutAdmission, 0, 'every booking was made with an admission')
  t.notOk('hold 503' in onSale.statuses, 'no admitted hold was answered 503')
  t.ok(onSale.fairness.arrivalOrderRho >= 0.99, 'later arrivals were admitted in arrival order')
  t.ok(onSale.rateChangeSeenAfterMs !== null && onSale.rateChangeSeenAfterMs <= 5_000, 'the rate change showed within 5 s')
})

t.test('BENCH_PHASES names the phases to run, and an unknown name fails before anything starts', async (t) => {
  const run = await runBench({ BENCH_PHASES: 'stampede,nonsense' })
  t.equal(run.code, 1, 'the bench exits 1')
  t.match(run.stderr, /BENCH_PHASES: no phase nonsense; the phases are flash, keyed, fill, sell-out, together, confirm, ceiling, creation, lapsed, stampede, on-sale/, 'it names the phases there are')
})
