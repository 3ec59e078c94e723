import t from 'tap'
import { startExpiryJob } from '../src/engine/expiry-job.ts'
import { createShow, holdOk, sleep, testApp } from './helpers/app.ts'

t.test('the expiry job sweeps lapsed holds on its interval and stops cleanly', async (t) => {
  const { app, db } = await testApp(t, { holdSeconds: 1 })
  const show = await createShow(app, { total_seats: 4 })
  const booking = await holdOk(app, { show_id: show.id, quantity: 4 })
  const logged: string[] = []
  const log = { info: (_: object, message: string) => logged.push(message), warn: (_: object, message: string) => logged.push(message) }
  const job = startExpiryJob(app.engine, 1, log)
  await sleep(2600)
  await job.stop()
  const stored = await db.selectFrom('bookings').select('status').where('id', '=', booking.id).executeTakeFirstOrThrow()
  t.equal(stored.status, 'EXPIRED')
  t.same(logged, ['expiry sweep'])
})

t.test('a failing sweep is logged and retried, never thrown', async (t) => {
  const logged: string[] = []
  const log = { info: (_: object, message: string) => logged.push(message), warn: (_: object, message: string) => logged.push(message) }
  let calls = 0
  const engine = {
    sweepExpiredHolds: async () => { calls++; throw new Error('database down') },
    forgetOldIdempotencyKeys: async () => 0
  }
  const job = startExpiryJob(engine, 1, log)
  await sleep(2300)
  await job.stop()
  t.ok(calls >= 2, 'tried again at the next tick')
  t.ok(logged.every((message) => message.startsWith('expiry sweep failed')))
})
