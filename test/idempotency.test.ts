import { sql } from 'kysely'
import t from 'tap'
import { createShow, hold, testApp } from './helpers/app.ts'
import { invariantViolations } from './helpers/invariants.ts'

t.test('the same key and body answer the first response again and hold nothing more', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 10 })
  const key = { 'idempotency-key': 'order-7f3a-attempt' }
  const first = await hold(app, { show_id: show.id, quantity: 2 }, key)
  t.equal(first.statusCode, 201)
  const retry = await hold(app, { quantity: 2, show_id: show.id }, key)
  t.equal(retry.statusCode, 201, 'the same body, whatever the order of its fields')
  t.same(retry.json(), first.json())
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability.held, 2)

  await app.inject({ method: 'POST', url: `/bookings/${first.json().id}/confirm` })
  t.same((await hold(app, { show_id: show.id, quantity: 2 }, key)).json(), first.json(), 'the first response, even after the booking moved on')

  const reused = await hold(app, { show_id: show.id, quantity: 3 }, key)
  t.equal(reused.statusCode, 422)
  t.match(reused.json(), { code: 'idempotency_key_reused', status: 422 })

  const other = await hold(app, { show_id: show.id, quantity: 2 }, { 'idempotency-key': 'another-key' })
  t.equal(other.statusCode, 201)
  t.not(other.json().id, first.json().id, 'another key is another hold')
})

t.test('a refusal is replayed too', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 2 })
  const key = { 'idempotency-key': 'too-many' }
  const first = await hold(app, { show_id: show.id, quantity: 3 }, key)
  t.equal(first.statusCode, 409)
  t.match(first.json(), { code: 'insufficient_seats', available: 2 })
  const again = await hold(app, { show_id: show.id, quantity: 3 }, key)
  t.equal(again.statusCode, 409)
  t.same(again.json(), first.json())
})

t.test('concurrent duplicates hold exactly once', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { total_seats: 100 })
  for (let round = 0; round < 5; round++) {
    const key = { 'idempotency-key': `burst-${round}` }
    const responses = await Promise.all(Array.from({ length: 20 }, async () => await hold(app, { show_id: show.id, quantity: 2 }, key)))
    const created = responses.filter((response) => response.statusCode === 201)
    const inUse = responses.filter((response) => response.statusCode === 409)
    t.equal(created.length + inUse.length, 20, 'each answers 201 or 409')
    t.ok(created.length >= 1)
    t.equal(new Set(created.map((response) => response.json().id)).size, 1, 'every 201 is the same booking')
    for (const response of inUse) t.match(response.json(), { code: 'idempotency_key_in_use' })
  }
  const { rows } = await sql<{ count: number }>`SELECT count(*)::int AS count FROM bookings WHERE show_id = ${show.id}`.execute(db)
  t.same(rows, [{ count: 5 }], 'one hold per key')
})

t.test('a key whose request died is taken over after its lease, by the same body only', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { total_seats: 5 })
  const body = { show_id: show.id, quantity: 1 }
  const { requestHash } = await import('../src/engine/idempotency.ts')
  await db.insertInto('idempotency_keys').values({
    show_id: show.id, key: 'crashed', request_hash: requestHash({ showId: show.id, quantity: 1 }), locked_until: sql<Date>`now() - interval '1 second'`
  }).execute()
  const other = await hold(app, { show_id: show.id, quantity: 2 }, { 'idempotency-key': 'crashed' })
  t.equal(other.statusCode, 422)
  const taken = await hold(app, body, { 'idempotency-key': 'crashed' })
  t.equal(taken.statusCode, 201)
  await db.updateTable('idempotency_keys').set({ created_at: sql<Date>`now() - interval '25 hours'` }).where('key', '=', 'crashed').execute()
  const fresh = await hold(app, { show_id: show.id, quantity: 2 }, { 'idempotency-key': 'crashed' })
  t.equal(fresh.statusCode, 201, 'after 24 hours the key is new again')
  t.not(fresh.json().id, taken.json().id)
  t.equal(await app.engine.forgetOldIdempotencyKeys(), 0)
  await db.updateTable('idempotency_keys').set({ created_at: sql<Date>`now() - interval '25 hours'` }).execute()
  t.equal(await app.engine.forgetOldIdempotencyKeys(), 1, 'old keys are forgotten by the sweep')
})

t.test('a key whose request died is forgotten after 24 hours like a settled one', async (t) => {
  const { app, db } = await testApp(t)
  const showId = (await createShow(app, { total_seats: 1 })).id
  await db.insertInto('idempotency_keys').values([
    // Claimed a day ago by a request that died: its lease ran out, no answer was ever recorded.
    { show_id: showId, key: 'died-yesterday', request_hash: 'h', created_at: sql<Date>`now() - interval '25 hours'`, locked_until: sql<Date>`now() - interval '25 hours'` },
    // Claimed long ago but still leased: a request is running on it, so it stays.
    { show_id: showId, key: 'still-running', request_hash: 'h', created_at: sql<Date>`now() - interval '25 hours'`, locked_until: sql<Date>`now() + interval '10 seconds'` },
    { show_id: showId, key: 'died-just-now', request_hash: 'h', locked_until: sql<Date>`now() - interval '1 second'` }
  ]).execute()
  t.equal(await app.engine.forgetOldIdempotencyKeys(), 1)
  const left = await db.selectFrom('idempotency_keys').select('key').orderBy('key').execute()
  t.same(left.map((row) => row.key), ['died-just-now', 'still-running'])
})

t.test('keys are scoped to their show: the same key on two shows is two requests', async (t) => {
  const { app, db } = await testApp(t)
  const [first, second] = [await createShow(app, { total_seats: 5 }), await createShow(app, { total_seats: 5 })]
  const key = { 'idempotency-key': 'same-key-two-shows-0001' }
  const one = await hold(app, { show_id: first.id, quantity: 2 }, key)
  const other = await hold(app, { show_id: second.id, quantity: 1 }, key)
  t.same([one.statusCode, other.statusCode], [201, 201], 'each show holds, though the bodies differ')
  t.not(one.json().id, other.json().id)
  const again = await hold(app, { show_id: second.id, quantity: 1 }, key)
  t.equal(again.json().id, other.json().id, 'and each show replays its own answer')
  const reused = await hold(app, { show_id: first.id, quantity: 3 }, key)
  t.match(reused.json(), { code: 'idempotency_key_reused' }, 'another body on the same show is still refused')
  const rows = await db.selectFrom('idempotency_keys').select(['show_id', 'key']).where('key', '=', key['idempotency-key']).orderBy('show_id').execute()
  t.same(rows.length, 2)
})

t.test('a malformed key is a validation error', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 5 })
  for (const key of ['has space', 'x'.repeat(256), 'tab\tkey', 'ünïcode']) {
    const response = await hold(app, { show_id: show.id, quantity: 1 }, { 'idempotency-key': key })
    t.equal(response.statusCode, 400, JSON.stringify(key).slice(0, 40))
    t.match(response.json(), { code: 'validation_failed', errors: [{ path: '/headers/idempotency-key' }] })
  }
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability.held, 0)
})

t.test('a booking\'s route to its show commits with its hold, never without it', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { total_seats: 10 })
  const key = { 'idempotency-key': 'route-with-hold-1' }
  const first = (await hold(app, { show_id: show.id, quantity: 2 }, key)).json()
  t.same((await hold(app, { show_id: show.id, quantity: 2 }, key)).json(), first, 'a retry replays the booking')
  t.match((await app.inject(`/bookings/${first.id}`)).json(), { id: first.id, status: 'PENDING' }, 'its id leads to it')
  // A hold whose transaction fails after its bookings are written leaves no route behind.
  await sql`ALTER TABLE seats ADD CONSTRAINT refuse_holds CHECK (booking_id IS NULL) NOT VALID`.execute(db)
  await t.rejects(app.engine.hold({ showId: show.id, quantity: 2 }), { message: /refuse_holds/ })
  await sql`ALTER TABLE seats DROP CONSTRAINT refuse_holds`.execute(db)
  const routes = await db.selectFrom('booking_shows').select('booking_id').where('show_id', '=', show.id).execute()
  t.same(routes.map((route) => route.booking_id), [first.id], 'no route without its booking')
  t.same(await invariantViolations(db, show.id), [])
})
