import t from 'tap'
import type { App } from '../src/app.ts'
import { createShow, hold, holdOk, sleep, testApp } from './helpers/app.ts'

/** The value of one sample of the scrape, by its name and exact labels as Prometheus prints them. */
async function scrape (app: App): Promise<(sample: string) => number | undefined> {
  const response = await app.inject('/metrics')
  if (response.statusCode !== 200) throw new Error(`/metrics answered ${response.statusCode}: ${response.body}`)
  const samples = new Map(response.body.split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => [line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1))]))
  return (sample) => samples.get(sample)
}

t.test('/metrics counts requests, outcomes, sweeps and the pool, and the counters move', async (t) => {
  const { app } = await testApp(t, { holdSeconds: 1 })
  const show = await createShow(app, { total_seats: 5 })
  const before = await scrape(app)
  t.equal(before('booking_operations_total{operation="hold",outcome="ok"}'), undefined, 'nothing counted yet')
  t.ok(before('nodejs_eventloop_lag_seconds') !== undefined, 'event loop lag')
  t.ok(before('db_pool_connections{state="total"}')! >= 1, 'pool connections')
  t.equal(before('db_pool_connections{state="waiting"}'), 0)
  t.equal(before('sse_subscribers'), 0)

  const held = await Promise.all([1, 2].map(async () => await holdOk(app, { show_id: show.id, quantity: 2 })))
  t.equal((await hold(app, { show_id: show.id, quantity: 2 })).json().code, 'insufficient_seats')
  await app.inject({ method: 'POST', url: `/bookings/${held[0]!.id}/confirm` })
  await app.inject({ method: 'POST', url: `/bookings/${held[0]!.id}/cancel` })
  await hold(app, { show_id: show.id, quantity: 1 })
  await sleep(1100)
  await app.engine.sweepExpiredHolds()
  await app.inject(`/bookings/${held[1]!.id}`)

  const after = await scrape(app)
  t.equal(after('booking_operations_total{operation="hold",outcome="ok"}'), 3)
  t.equal(after('booking_operations_total{operation="hold",outcome="insufficient_seats"}'), 1)
  t.equal(after('booking_operations_total{operation="confirm",outcome="ok"}'), 1)
  t.equal(after('booking_operations_total{operation="cancel",outcome="ok"}'), 1)
  t.equal(after('booking_holds_expired_total'), 2, 'the sweep expired the two lapsed holds')
  t.equal(after('expiry_sweep_duration_seconds_count'), 1)
  t.equal(after('expiry_sweep_expired_holds_sum'), 2)
  t.equal(after('http_request_duration_seconds_count{method="POST",route="/bookings",status_code="201"}'), 3)
  t.equal(after('http_request_duration_seconds_count{method="POST",route="/bookings",status_code="409"}'), 1)
  t.equal(after('http_request_duration_seconds_count{method="GET",route="/bookings/:id",status_code="200"}'), 1, 'by route template, not by id')
  t.equal(after('http_request_duration_seconds_count{method="GET",route="/metrics",status_code="200"}'), 1)
})
