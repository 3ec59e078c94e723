import { sql } from 'kysely'
import t from 'tap'
import type { Booking } from '../api/index.ts'
import type { App } from '../src/app.ts'
import { admin, createShow, hold, holdOk, inAnHour, sleep, testApp } from './helpers/app.ts'
import { invariantViolations } from './helpers/invariants.ts'

const together = (showId: string, quantity: number) => ({ show_id: showId, quantity, together: true })

async function seatMap (app: App, showId: string): Promise<Array<{ label: string, row: string | null, number: number, status: string }>> {
  return (await app.inject(`/shows/${showId}/seats`)).json().items
}

/** The longest run of adjacent free seats in one row of the seat map. */
async function largestFreeBlock (app: App, showId: string): Promise<number> {
  let largest = 0
  let run = 0
  let previous: { row: string | null, number: number } | undefined
  for (const seat of await seatMap(app, showId)) {
    const adjacent = previous !== undefined && previous.row === seat.row && previous.number + 1 === seat.number
    run = seat.status !== 'AVAILABLE' ? 0 : adjacent ? run + 1 : 1
    previous = seat.status === 'AVAILABLE' ? seat : undefined
    largest = Math.max(largest, run)
  }
  return largest
}

/** The booking's seats are one row's consecutive numbers. */
function adjacent (booking: Booking, rowOf: (label: string) => string, numberOf: (label: string) => number): boolean {
  const rows = new Set(booking.seats.map(rowOf))
  const numbers = booking.seats.map(numberOf)
  return rows.size === 1 && numbers.every((number, index) => index === 0 || number === numbers[index - 1]! + 1)
}
const rowLabel = (label: string): string => label.replace(/\d+$/, '')
const seatNumber = (label: string): number => Number(/\d+$/.exec(label)![0])

t.test('seats together are adjacent in one row, centred on the middle of the front row by default', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { rows: [{ label: 'A', seats: 10 }, { label: 'B', seats: 10 }, { label: 'C', seats: 10 }] })
  t.match(show, { focal_row: null, focal_seat: null })
  t.same((await holdOk(app, together(show.id, 4))).seats, ['A4', 'A5', 'A6', 'A7'])
  t.same((await holdOk(app, together(show.id, 2))).seats, ['B5', 'B6'], 'a row back counts 2 seats to the side: closer than A2-A3 or A8-A9, 3 to the side')
  t.same((await holdOk(app, together(show.id, 4))).seats, ['B1', 'B2', 'B3', 'B4'], 'A has no 4 left; B1-B4 and B7-B10 are as close: the lower')
  t.same(await invariantViolations(db, show.id), [])
})

t.test('a focal point set on the show draws the blocks to it, and the Show tells it', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { rows: [{ label: 'A', seats: 8 }, { label: 'B', seats: 8 }, { label: 'C', seats: 8 }], focal_row: 'C', focal_seat: 2 })
  t.match(show, { focal_row: 'C', focal_seat: 2 })
  t.match((await app.inject(`/shows/${show.id}`)).json(), { focal_row: 'C', focal_seat: 2 })
  t.same((await holdOk(app, together(show.id, 3))).seats, ['C1', 'C2', 'C3'])
  t.same((await holdOk(app, together(show.id, 2))).seats, ['B1', 'B2'], 'a row forward, closer than C4-C5, 2.5 to the side')
  const middle = await createShow(app, { rows: [{ label: 'A', seats: 8 }, { label: 'B', seats: 8 }], focal_row: 'B' })
  t.match(middle, { focal_row: 'B', focal_seat: null })
  t.same((await holdOk(app, together(middle.id, 2))).seats, ['B4', 'B5'], 'the middle of the row named')
})

t.test('the block that would leave one seat alone is passed over for one of the same row that would not', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { rows: [{ label: 'A', seats: 10 }] })
  await holdOk(app, { show_id: show.id, seats: ['A1', 'A2'] })
  t.same((await holdOk(app, together(show.id, 4))).seats, ['A3', 'A4', 'A5', 'A6'], 'A4-A7, centred, would leave A3 alone')
  await holdOk(app, { show_id: show.id, seats: ['A10'] })
  t.same((await holdOk(app, together(show.id, 1))).seats, ['A7'], 'A8, as close as A7, would leave A7 and A9 alone')
  const seats = await seatMap(app, show.id)
  t.same(seats.filter((seat) => seat.status === 'AVAILABLE').map((seat) => seat.label), ['A8', 'A9'])
})

t.test('on a numbered show, seats together are consecutive numbers', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 30, focal_seat: 5 })
  t.match(show, { layout: 'numbered', focal_row: null, focal_seat: 5 })
  t.same((await holdOk(app, together(show.id, 3))).seats, ['4', '5', '6'])
  const middle = await createShow(app, { total_seats: 30 })
  t.same((await holdOk(app, together(middle.id, 6))).seats, ['13', '14', '15', '16', '17', '18'])
})

t.test('no block of the size asked: 409 no_adjacent_seats with the free seats and the largest block', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { rows: [{ label: 'A', seats: 4 }, { label: 'B', seats: 4 }] })
  await holdOk(app, { show_id: show.id, seats: ['A2', 'B3'] })
  const refused = await hold(app, together(show.id, 3))
  t.equal(refused.statusCode, 409)
  t.match(refused.json(), { code: 'no_adjacent_seats', status: 409, available: 6, largest_block: 2 })
  t.equal((await hold(app, { show_id: show.id, quantity: 3 })).statusCode, 201, 'three seats anywhere are there')
  const none = await hold(app, together(show.id, 5))
  t.match(none.json(), { code: 'no_adjacent_seats', available: 3, largest_block: 2 }, 'a block longer than any row')
  t.same(await invariantViolations(db, show.id), [])
})

t.test('a block that another transaction has locked for a moment is waited for, not refused', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { rows: [{ label: 'A', seats: 4 }] })
  for (const key of [undefined, 'keyed']) {
    const answer = await db.connection().execute(async (connection) => {
      await sql`BEGIN`.execute(connection)
      await sql`SELECT seat_no FROM seats WHERE show_id = ${show.id} ORDER BY seat_no FOR UPDATE`.execute(connection)
      const holding = hold(app, together(show.id, 4), key === undefined ? {} : { 'idempotency-key': key })
      await sleep(300)
      await sql`ROLLBACK`.execute(connection)
      return await holding
    })
    t.equal(answer.statusCode, 201, `the only block, locked by a transaction that gives it up${key === undefined ? '' : ', with a key'}`)
    await app.inject({ method: 'POST', url: `/bookings/${answer.json().id}/cancel` })
  }
})

t.test('seats of a lapsed hold are free for seats together', async (t) => {
  const { app } = await testApp(t, { holdSeconds: 1 })
  const show = await createShow(app, { rows: [{ label: 'A', seats: 4 }] })
  await holdOk(app, { show_id: show.id, quantity: 4 })
  t.equal((await hold(app, together(show.id, 2))).json().code, 'no_adjacent_seats')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.same((await holdOk(app, together(show.id, 4))).seats, ['A1', 'A2', 'A3', 'A4'])
})

t.test('a show that does not take holds answers so', async (t) => {
  const { app } = await testApp(t)
  const missing = await hold(app, together('0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10', 2))
  t.match(missing.json(), { code: 'show_not_found', status: 404 })
  const keyed = await hold(app, together('0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10', 2), { 'idempotency-key': 'no-such-show' })
  t.match(keyed.json(), { code: 'show_not_found', status: 404 })
})

t.test('bad focal points and together with seats are refused, and nothing is made', async (t) => {
  const { app } = await testApp(t)
  const post = async (body: Record<string, unknown>) =>
    await app.inject({ method: 'POST', url: '/admin/shows', headers: admin, payload: { name: 'Focal', start_time: inAnHour(), ...body } })
  const twoRows = { rows: [{ label: 'A', seats: 5 }, { label: 'B', seats: 8 }] }
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ ...twoRows, focal_row: 'C' }, '/body/focal_row'],
    [{ ...twoRows, focal_seat: 6 }, '/body/focal_seat'],
    [{ ...twoRows, focal_row: 'A', focal_seat: 6 }, '/body/focal_seat'],
    [{ ...twoRows, focal_seat: 0 }, '/body/focal_seat'],
    [{ total_seats: 10, focal_seat: 11 }, '/body/focal_seat'],
    [{ total_seats: 10, focal_row: 'A' }, '/body/focal_row']
  ]
  for (const [body, path] of cases) {
    const response = await post(body)
    t.equal(response.statusCode, 400, JSON.stringify(body))
    t.match(response.json(), { code: 'validation_failed', errors: [{ path }] }, JSON.stringify(body))
  }
  t.equal((await post({ ...twoRows, focal_row: 'B', focal_seat: 8 })).statusCode, 201, 'the last seat of the row named is a seat')
  const shows = (await app.inject({ url: '/admin/shows', headers: admin })).json().items
  t.equal(shows.length, 1, 'only the valid show was made')

  const show = await createShow(app, twoRows)
  const mixed = await hold(app, { show_id: show.id, seats: ['A1', 'A2'], together: true })
  t.equal(mixed.statusCode, 400)
  t.match(mixed.json(), { code: 'validation_failed', errors: [{ path: '/body/together' }] })
  t.equal((await hold(app, { show_id: show.id, quantity: 2, together: 'yes' })).statusCode, 400)
  t.match((await app.inject(`/shows/${show.id}/availability`)).json().availability, { held: 0 })
})

t.test('with an Idempotency-Key, a hold of seats together is made once and its answer replayed', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { rows: [{ label: 'A', seats: 5 }] })
  const key = { 'idempotency-key': 'party-of-four' }
  const first = await hold(app, together(show.id, 4), key)
  t.equal(first.statusCode, 201)
  t.same(first.json().seats, ['A1', 'A2', 'A3', 'A4'])
  const retry = await hold(app, together(show.id, 4), key)
  t.same(retry.json(), first.json(), 'the same booking')
  t.match((await app.inject(`/shows/${show.id}/availability`)).json().availability, { held: 4 })
  const reused = await hold(app, { show_id: show.id, quantity: 4 }, key)
  t.match(reused.json(), { code: 'idempotency_key_reused', status: 422 }, 'the same quantity without together is another request')

  const refusedKey = { 'idempotency-key': 'party-of-two' }
  const refused = await hold(app, together(show.id, 2), refusedKey)
  t.match(refused.json(), { code: 'no_adjacent_seats', available: 1, largest_block: 1 })
  await app.inject({ method: 'POST', url: `/bookings/${first.json().id}/cancel` })
  t.same((await hold(app, together(show.id, 2), refusedKey)).json(), refused.json(), 'the refusal is replayed though seats are free now')
})

t.test('storms of holds together on two servers never sell a seat twice nor refuse a block that was free', async (t) => {
  const first = await testApp(t, { poolMax: 10 })
  const second = await testApp(t, { url: first.url, poolMax: 10 })
  const apps = [first.app, second.app]
  for (let round = 0; round < 4; round++) {
    const show = await createShow(first.app, { rows: Array.from({ length: 8 }, (_, index) => ({ label: String.fromCharCode(65 + index), seats: 12 })) })
    const quantities = Array.from({ length: 60 }, () => 2 + Math.floor(Math.random() * 5))
    const answers = await Promise.all(quantities.map(async (quantity, index) => {
      // Some keyed, some plain, on both servers: batches of either server, and keys' own
      // transactions, race for the same blocks.
      const headers: Record<string, string> = index % 3 === 0 ? { 'idempotency-key': `storm-${round}-${index}` } : {}
      const response = await hold(apps[index % 2]!, together(show.id, quantity), headers)
      return { quantity, status: response.statusCode, body: response.json() }
    }))
    t.same(answers.filter((answer) => answer.status !== 201 && answer.body.code !== 'no_adjacent_seats'), [], `round ${round}: 201 or no_adjacent_seats`)
    const bookings = answers.filter((answer) => answer.status === 201).map((answer) => answer.body as Booking)
    const seats = bookings.flatMap((booking) => booking.seats)
    t.equal(new Set(seats).size, seats.length, `round ${round}: no seat in two holds`)
    t.ok(bookings.every((booking) => adjacent(booking, rowLabel, seatNumber)), `round ${round}: every hold is one block`)
    // Seats only left the free ones during the storm: a block free at the end was free throughout.
    const largest = await largestFreeBlock(first.app, show.id)
    const falseRefusals = answers.filter((answer) => answer.body.code === 'no_adjacent_seats' && answer.quantity <= largest)
    t.same(falseRefusals, [], `round ${round}: no refusal while a block of ${largest} was free`)
    t.same(await invariantViolations(first.db, show.id), [])
  }
})
