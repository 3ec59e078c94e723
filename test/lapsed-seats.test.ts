import pg from 'pg'
import t, { type Test } from 'tap'
import { pickSeats } from '../src/engine/hold-statements.ts'
import { createShow, holdOk, sleep, testApp, type TestApp } from './helpers/app.ts'

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  'Actual Rows': number
  'Actual Loops': number
  Plans?: PlanNode[]
}

/** Rows each index of the plan returned, over all its loops. */
function rowsByIndex (node: PlanNode, into = new Map<string, number>()): Map<string, number> {
  if (node['Index Name'] !== undefined) {
    into.set(node['Index Name'], (into.get(node['Index Name']) ?? 0) + node['Actual Rows'] * node['Actual Loops'])
  }
  for (const child of node.Plans ?? []) rowsByIndex(child, into)
  return into
}

/** Runs the skip-locked seat search for `seats` seats under EXPLAIN ANALYZE, and rolls it back. */
async function explainHold (t: Test, { db, url }: TestApp, showId: string, seats: number): Promise<PlanNode> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(async () => { await client.end() })
  const compiled = pickSeats(db, showId, seats, 'skip-locked').compile()
  await client.query('BEGIN')
  const { rows: [row] } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${compiled.sql}`, [...compiled.parameters])
  await client.query('ROLLBACK')
  return row!['QUERY PLAN'][0]!.Plan
}

t.test('a hold reads as many lapsed seats as it asks for, however many have lapsed unswept', async (t) => {
  // A window long enough for all ten holds to be made before the first one ends.
  const test = await testApp(t, { holdSeconds: 5, maxSeatsPerBooking: 1000 })
  const { app } = test
  const show = await createShow(app, { total_seats: 20_000 })
  // 10,000 seats held, then lapsed; no sweep runs in tests.
  let last = await holdOk(app, { show_id: show.id, quantity: 1000 })
  for (let i = 1; i < 10; i++) last = await holdOk(app, { show_id: show.id, quantity: 1000 })
  t.same(last.seats.slice(0, 1), ['9001'], 'seats 1 to 10,000 held, in order')
  await sleep(Date.parse(last.hold_expires_at) - Date.now() + 100)

  const plan = await explainHold(t, test, show.id, 5)

  const read = rowsByIndex(plan).get('seats_held_idx') ?? 0
  // The 5 that lapsed first (as many as asked for), then each of them again under its lock.
  t.ok(read <= 2 * 5, `the lapsed seats read through seats_held_idx: ${read} of 10,000`)

  const first = await holdOk(app, { show_id: show.id, quantity: 2 })
  t.same(first.seats, ['1', '2'], 'the lowest free seats')
  const next = await holdOk(app, { show_id: show.id, quantity: 3 })
  t.same(next.seats, ['3', '4', '5'], 'still the lowest')
})

t.test('lapsed seats a hold read but did not take go back to the free seats', async (t) => {
  const { app, db } = await testApp(t, { holdSeconds: 1 })
  const show = await createShow(app, { total_seats: 10 })
  const lapsed = await holdOk(app, { show_id: show.id, seats: ['6', '7', '8', '9', '10'] })
  await sleep(Date.parse(lapsed.hold_expires_at) - Date.now() + 100)
  // Seats 1 and 2 are lower than any lapsed seat: the two lapsed seats it read are released.
  t.same((await holdOk(app, { show_id: show.id, quantity: 2 })).seats, ['1', '2'])
  const holders = await db.selectFrom('seats').select(['label', 'booking_id']).where('show_id', '=', show.id)
    .where('seat_no', '>=', 6).orderBy('seat_no').execute()
  t.same(holders.map((seat) => seat.booking_id === null), [true, true, false, false, false], 'seats 6 and 7 released, 8 to 10 still lapsed')
  t.same((await app.inject(`/shows/${show.id}/availability`)).json().availability, { total: 10, available: 8, held: 2, booked: 0 })
})
