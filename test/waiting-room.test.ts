import { sql } from 'kysely'
import t from 'tap'
import type { QueueTicket, Show } from '../api/index.ts'
import type { App } from '../src/app.ts'
import { admin, createShow, hold, sleep, testApp } from './helpers/app.ts'
import { EventReader } from './helpers/event-stream.ts'
import { session } from './helpers/sessions.ts'

const inMinutes = (minutes: number): string => new Date(Date.now() + minutes * 60_000).toISOString()

async function roomShow (app: App, admitPerMinute: number, body: Record<string, unknown> = {}): Promise<Show> {
  return await createShow(app, { total_seats: 50, start_time: inMinutes(120), waiting_room: { admit_per_minute: admitPerMinute }, ...body })
}

async function join (app: App, showId: string): Promise<QueueTicket> {
  const response = await app.inject({ method: 'POST', url: `/shows/${showId}/queue` })
  if (response.statusCode !== 201) throw new Error(`joining answered ${response.statusCode}: ${response.body}`)
  return response.json()
}

async function ticketNow (app: App, showId: string, ticket: string) {
  return await app.inject(`/shows/${showId}/queue/${encodeURIComponent(ticket)}`)
}

async function waitUntilAdmitted (app: App, showId: string, ticket: string, timeoutMs = 5_000): Promise<QueueTicket> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const answer: QueueTicket = (await ticketNow(app, showId, ticket)).json()
    if (answer.status === 'admitted' || Date.now() > deadline) return answer
    await sleep(100)
  }
}

const setRoom = async (app: App, showId: string, payload: Record<string, unknown>) =>
  await app.inject({ method: 'PATCH', url: `/admin/shows/${showId}/waiting-room`, headers: admin, payload })

const holdWith = async (app: App, showId: string, token: string | undefined, quantity = 1) =>
  await hold(app, { show_id: showId, quantity }, token === undefined ? {} : { 'admission-token': token })

t.test('a show carries its sale opening and waiting room', async (t) => {
  const { app } = await testApp(t)
  const opens = inMinutes(30)
  const show = await roomShow(app, 600, { sales_open_at: opens })
  t.match(show, { sales_open_at: new Date(opens).toISOString(), waiting_room: { enabled: true, admit_per_minute: 600 } })
  t.same((await app.inject(`/shows/${show.id}`)).json(), show)
  const plain = await createShow(app, { total_seats: 5 })
  t.match(plain, { sales_open_at: null, waiting_room: null })

  const late = await app.inject({ method: 'POST', url: '/admin/shows', headers: admin, payload: { name: 'x', start_time: inMinutes(60), sales_open_at: inMinutes(61), total_seats: 5 } })
  t.equal(late.statusCode, 400)
  t.match(late.json(), { code: 'validation_failed', errors: [{ path: '/body/sales_open_at' }] })
  for (const waitingRoom of [{ admit_per_minute: 0 }, { admit_per_minute: 1_000_001 }, {}, { admit_per_minute: 5, extra: 1 }]) {
    const bad = await app.inject({ method: 'POST', url: '/admin/shows', headers: admin, payload: { name: 'x', start_time: inMinutes(60), total_seats: 5, waiting_room: waitingRoom } })
    t.equal(bad.statusCode, 400, JSON.stringify(waitingRoom))
  }

  const slower = await setRoom(app, show.id, { admit_per_minute: 30 })
  t.equal(slower.statusCode, 200)
  t.match(slower.json(), { waiting_room: { enabled: true, admit_per_minute: 30 } })
  t.match((await setRoom(app, show.id, { enabled: false })).json(), { waiting_room: { enabled: false, admit_per_minute: null } })
  t.match((await setRoom(app, plain.id, { admit_per_minute: 10 })).json(), { waiting_room: { enabled: true, admit_per_minute: 10 } }, 'a rate gives a show a room')
  for (const payload of [{ enabled: true }, { admit_per_minute: 0 }, {}, { enabled: false, admit_per_minute: 5 }]) {
    t.equal((await setRoom(app, show.id, payload)).statusCode, 400, JSON.stringify(payload))
  }
  t.equal((await setRoom(app, '00000000-0000-4000-8000-000000000000', { admit_per_minute: 5 })).statusCode, 404)
  t.equal((await app.inject({ method: 'PATCH', url: `/admin/shows/${show.id}/waiting-room`, payload: { enabled: false } })).statusCode, 401)
})

t.test('holds before sales open answer sales_not_open, with or without a room', async (t) => {
  const { app } = await testApp(t)
  const opens = inMinutes(30)
  for (const show of [await createShow(app, { total_seats: 5, start_time: inMinutes(120), sales_open_at: opens }), await roomShow(app, 600, { sales_open_at: opens })]) {
    const early = await holdWith(app, show.id, undefined)
    t.equal(early.statusCode, 409)
    t.match(early.json(), { code: 'sales_not_open', sales_open_at: new Date(opens).toISOString() })
  }
})

t.test('joining the queue gives a signed ticket; altered or other shows\' tickets are refused', async (t) => {
  const { app } = await testApp(t)
  const show = await roomShow(app, 60, { sales_open_at: inMinutes(30) })
  const other = await roomShow(app, 60)
  const ticket = await join(app, show.id)
  t.match(ticket, { show_id: show.id, status: 'waiting', position: null, ahead: null, estimated_admission_at: null, admission_token: null, admission_expires_at: null })
  const again = await ticketNow(app, show.id, ticket.ticket)
  t.equal(again.statusCode, 200)
  t.same(again.json(), ticket)

  const [payload, mac] = ticket.ticket.split('.') as [string, string]
  const fields = JSON.parse(Buffer.from(payload, 'base64url').toString()) as unknown[]
  fields[2] = 1 + Number(fields[2])
  const altered = `${Buffer.from(JSON.stringify(fields)).toString('base64url')}.${mac}`
  for (const bad of [altered, `${payload}.${Buffer.alloc(16).toString('base64url')}`, 'nonsense', `${payload}`]) {
    const refused = await ticketNow(app, show.id, bad)
    t.equal(refused.statusCode, 400, bad)
    t.match(refused.json(), { code: 'invalid_ticket' })
  }
  t.match((await ticketNow(app, other.id, ticket.ticket)).json(), { code: 'invalid_ticket' }, 'another show\'s ticket')
  t.equal((await ticketNow(app, '00000000-0000-4000-8000-000000000000', ticket.ticket)).statusCode, 404)

  const plain = await createShow(app, { total_seats: 5 })
  const none = await app.inject({ method: 'POST', url: `/shows/${plain.id}/queue` })
  t.equal(none.statusCode, 409)
  t.match(none.json(), { code: 'no_waiting_room' })
  t.equal((await app.inject({ method: 'POST', url: '/shows/nope/queue' })).statusCode, 404)
})

t.test('while the room is on, a hold needs a valid admission token of its show', async (t) => {
  const { app, db } = await testApp(t, { waitingRoom: { admissionSeconds: 2 } })
  const show = await roomShow(app, 600_000)
  const other = await roomShow(app, 600_000)
  const admitted = await join(app, show.id)
  t.equal(admitted.status, 'admitted', 'a fast room admits at once')
  t.equal(admitted.position, 0)
  const token = admitted.admission_token!
  const otherToken = (await join(app, other.id)).admission_token!
  const forged = `${token.split('.')[0]!}.${Buffer.alloc(16, 1).toString('base64url')}`
  for (const [name, bad] of [['none', undefined], ['forged', forged], ['a ticket', admitted.ticket], ['another show\'s', otherToken]] as const) {
    const refused = await holdWith(app, show.id, bad)
    t.equal(refused.statusCode, 403, name)
    t.match(refused.json(), { code: 'admission_required' })
  }
  t.equal((await holdWith(app, show.id, token)).statusCode, 201)
  t.match((await app.inject('/metrics')).body, /waiting_room_admission_refusals_total\{reason="forged"\} 2/)

  await sleep(Date.parse(admitted.admission_expires_at!) - Date.now() + 50)
  await sql`UPDATE bookings SET status = 'CANCELLED', cancelled_at = now() WHERE show_id = ${show.id}`.execute(db)
  const expired = await holdWith(app, show.id, token)
  t.equal(expired.statusCode, 403, 'an expired token')
  t.match(expired.json(), { code: 'admission_required', detail: /expired/ })
})

t.test('one admission token holds one live booking at a time', async (t) => {
  const { app } = await testApp(t)
  const show = await roomShow(app, 600_000)
  const token = (await join(app, show.id)).admission_token!
  const first = await holdWith(app, show.id, token)
  t.equal(first.statusCode, 201)
  const second = await holdWith(app, show.id, token)
  t.equal(second.statusCode, 409)
  t.match(second.json(), { code: 'admission_in_use' })
  t.equal((await app.inject({ method: 'POST', url: `/bookings/${first.json().id}/cancel` })).statusCode, 200)
  const afterCancel = await holdWith(app, show.id, token, 2)
  t.equal(afterCancel.statusCode, 201, 'a cancelled hold frees the admission')
  t.equal((await app.inject({ method: 'POST', url: `/bookings/${afterCancel.json().id}/confirm` })).statusCode, 200)
  t.equal((await holdWith(app, show.id, token)).statusCode, 201, 'so does a confirmed one')

  // At once, by quantity (batched together) and by labels: one wins.
  const racing = (await join(app, show.id)).admission_token!
  const answers = await Promise.all([
    ...Array.from({ length: 6 }, async () => await holdWith(app, show.id, racing)),
    hold(app, { show_id: show.id, seats: ['50'] }, { 'admission-token': racing })
  ])
  t.equal(answers.filter((answer) => answer.statusCode === 201).length, 1, 'one hold at a time')
  t.ok(answers.every((answer) => answer.statusCode === 201 || answer.json().code === 'admission_in_use'))
  t.match((await app.inject('/metrics')).body, /waiting_room_admission_refusals_total\{reason="in_use"\} 7/)
})

t.test('a keyed hold on an admission in use answers admission_in_use, and its key replays that', async (t) => {
  const { app } = await testApp(t)
  const show = await roomShow(app, 600_000)
  const token = (await join(app, show.id)).admission_token!
  t.equal((await holdWith(app, show.id, token)).statusCode, 201)
  const headers = { 'admission-token': token, 'idempotency-key': 'second-hold' }
  const second = await hold(app, { show_id: show.id, quantity: 1 }, headers)
  t.equal(second.statusCode, 409)
  t.match(second.json(), { code: 'admission_in_use' }, 'the admission, not the key, is what is in use')
  t.match((await hold(app, { show_id: show.id, quantity: 1 }, headers)).json(), { code: 'admission_in_use' }, 'a retry with the key gets the same answer')
})

t.test('an extended hold keeps its admission in use until its new end, for holds of seats together too', async (t) => {
  const { app } = await testApp(t, { holdSeconds: 3, maxHoldSeconds: 60 })
  const show = await roomShow(app, 600_000)
  const token = (await join(app, show.id)).admission_token!
  const first = await holdWith(app, show.id, token)
  t.equal(first.statusCode, 201)
  const placed = Date.parse(first.json().created_at)
  await sleep(1500)
  const extended = await app.inject({ method: 'POST', url: `/bookings/${first.json().id}/extend` })
  t.equal(extended.statusCode, 200, extended.body)
  await sleep(Math.max(0, placed + 3300 - Date.now()))
  t.match((await holdWith(app, show.id, token)).json(), { code: 'admission_in_use' }, 'past the first end, the extended hold still holds the admission')
  const together = await hold(app, { show_id: show.id, quantity: 2, together: true }, { 'admission-token': token })
  t.match(together.json(), { code: 'admission_in_use' }, 'a hold of seats together is refused the same way')
  await sleep(Math.max(0, Date.parse(extended.json().hold_expires_at) + 200 - Date.now()))
  const after = await hold(app, { show_id: show.id, quantity: 2, together: true }, { 'admission-token': token })
  t.equal(after.statusCode, 201, `once the extended hold has lapsed, the admission holds again: ${after.body}`)
  const [a, b] = (after.json().seats as string[]).map(Number)
  t.equal(b! - a!, 1, 'seats together')
})

t.test('later arrivals are admitted in arrival order, at the set rate', async (t) => {
  const { app } = await testApp(t)
  const show = await roomShow(app, 60)
  const tickets = []
  for (let i = 0; i < 8; i++) tickets.push(await join(app, show.id))
  const waiting = tickets.filter((ticket) => ticket.status === 'waiting')
  t.ok(waiting.length >= 6, 'at one a second, most wait')
  const times = tickets.map((ticket) => Date.parse(ticket.estimated_admission_at!))
  t.same(times, [...times].sort((a, b) => a - b), 'admitted in the order they joined')
  for (const [i, ticket] of waiting.entries()) if (i > 0) t.equal(ticket.position, waiting[i - 1]!.position! + 1)
  const last = waiting.at(-1)!
  const gap = (Date.parse(last.estimated_admission_at!) - Date.parse(waiting[0]!.estimated_admission_at!)) / (waiting.length - 1)
  t.ok(Math.abs(gap - 1000) < 5, `one a second (${gap} ms apart)`)
  t.match((await app.inject('/metrics')).body, new RegExp(`waiting_room_queue_length\\{show_id="${show.id}"\\} [1-9]`))

  // A faster rate applies at once, to those already waiting.
  await setRoom(app, show.id, { admit_per_minute: 600_000 })
  t.equal((await ticketNow(app, show.id, last.ticket)).json().status, 'admitted')
})

t.test('concurrent joins, batched, each get a place of their own, in the order they were taken', async (t) => {
  const { app } = await testApp(t)
  const show = await roomShow(app, 1)
  const tickets = await Promise.all(Array.from({ length: 300 }, async () => await join(app, show.id)))
  const positions = tickets.map((ticket) => ticket.position!)
  t.same([...positions].sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i + 1), 'one place each, none skipped')
  const times = [...tickets].sort((a, b) => a.position! - b.position!).map((ticket) => Date.parse(ticket.estimated_admission_at!))
  t.same(times, [...times].sort((a, b) => a - b), 'admitted in the order of their places')
  t.equal((await join(app, show.id)).position, 301, 'the next joiner comes after them all')
})

t.test('a join does not wait for a hold\'s transaction that added an admission, nor does a rate change', async (t) => {
  const { app, url } = await testApp(t)
  const show = await roomShow(app, 600)
  // What a hold batch does first under admission: its row's foreign key share-locks the room's row until it commits.
  const holding = await session(t, url)
  await holding.query('BEGIN')
  await holding.query('INSERT INTO admissions (show_id, seq) VALUES ($1, 1)', [show.id])
  const timedOut = sleep(3_000).then(() => 'waited' as const)
  t.equal(await Promise.race([join(app, show.id).then(() => 'joined' as const), timedOut]), 'joined')
  t.equal(await Promise.race([setRoom(app, show.id, { admit_per_minute: 60 }).then((answer) => answer.statusCode), timedOut]), 200)
  await holding.query('ROLLBACK')
})

t.test('those who joined before the opening are placed in one random order, ahead of later arrivals', async (t) => {
  const { app } = await testApp(t)
  const show = await roomShow(app, 6, { sales_open_at: new Date(Date.now() + 3_000).toISOString() })
  const early = await Promise.all(Array.from({ length: 40 }, async () => await join(app, show.id)))
  t.ok(early.every((ticket) => ticket.position === null), 'no place before the opening')
  await sleep(Date.parse(show.sales_open_at!) - Date.now() + 2_100)
  const late = await join(app, show.id)
  const placed = await Promise.all(early.map(async (ticket) => (await ticketNow(app, show.id, ticket.ticket)).json() as QueueTicket))
  const places = placed.map((ticket) => ticket.position!)
  t.ok(places.every((place) => Number.isInteger(place)), 'placed after the opening')
  t.same([...places].sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1), 'one place each')
  t.not(places.join(), places.map((_, i) => i + 1).join(), 'not in the order they joined')
  t.equal(late.position, 41, 'behind every early joiner')
})

t.test('places survive a restart of every process', async (t) => {
  const first = await testApp(t)
  const show = await roomShow(first.app, 6, { sales_open_at: new Date(Date.now() + 1_000).toISOString() })
  const tickets = []
  for (let i = 0; i < 10; i++) tickets.push(await join(first.app, show.id))
  await sleep(Date.parse(show.sales_open_at!) - Date.now() + 2_100)
  const before = await Promise.all(tickets.map(async (ticket) => (await ticketNow(first.app, show.id, ticket.ticket)).json() as QueueTicket))
  await first.app.close()

  const second = await testApp(t, { url: first.url })
  const after = await Promise.all(tickets.map(async (ticket) => (await ticketNow(second.app, show.id, ticket.ticket)).json() as QueueTicket))
  t.same(after.map((ticket) => ticket.estimated_admission_at), before.map((ticket) => ticket.estimated_admission_at))
  t.same(after.map((ticket) => ticket.position), before.map((ticket) => ticket.position))
  t.equal((await join(second.app, show.id)).position, 11, 'and the next joiner comes after them')

  const stranger = await testApp(t, { url: first.url, waitingRoom: { secret: 'another-secret-0123456789abcdef0123' } })
  t.equal((await ticketNow(stranger.app, show.id, tickets[0]!.ticket)).statusCode, 400, 'a ticket signed with another secret')
})

t.test('a rate set in one process reaches the others within a second or two', async (t) => {
  const one = await testApp(t)
  const two = await testApp(t, { url: one.url })
  const show = await roomShow(one.app, 1)
  await join(one.app, show.id)
  const ticket = await join(two.app, show.id)
  t.equal(ticket.status, 'waiting')
  await setRoom(one.app, show.id, { admit_per_minute: 600_000 })
  const started = Date.now()
  const admitted = await waitUntilAdmitted(two.app, show.id, ticket.ticket)
  t.equal(admitted.status, 'admitted')
  t.ok(Date.now() - started < 2_000, `within ${Date.now() - started} ms`)
})

t.test('switched off, everyone is admitted and holds need no token', async (t) => {
  const { app } = await testApp(t)
  const show = await roomShow(app, 1)
  await join(app, show.id)
  const waiting = await join(app, show.id)
  t.equal(waiting.status, 'waiting')
  t.equal((await holdWith(app, show.id, undefined)).statusCode, 403)
  await setRoom(app, show.id, { enabled: false })
  t.equal((await holdWith(app, show.id, undefined)).statusCode, 201)
  t.equal((await ticketNow(app, show.id, waiting.ticket)).json().status, 'admitted')
  await setRoom(app, show.id, { admit_per_minute: 1 })
  t.equal((await holdWith(app, show.id, undefined)).statusCode, 403, 'on again')
  t.equal((await join(app, show.id)).status, 'waiting', 'and a new joiner waits behind those let in')
})

t.test('the ticket\'s events follow its place until admitted, then end', async (t) => {
  const { app } = await testApp(t)
  const show = await roomShow(app, 120)
  const tickets = []
  for (let i = 0; i < 4; i++) tickets.push(await join(app, show.id))
  const last = tickets.at(-1)!
  t.equal(last.status, 'waiting')
  const response = await app.inject({ method: 'GET', url: `/shows/${show.id}/queue/${last.ticket}/events`, payloadAsStream: true })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/event-stream/)
  const reader = new EventReader(response.stream())
  const ended = new Promise<void>((resolve) => response.stream().once('end', resolve))
  const admitted = await reader.waitFor((item) => (item.data as unknown as QueueTicket | undefined)?.status === 'admitted', 5_000)
  await ended
  const events = reader.items.filter((item) => item.event === 'ticket').map((item) => item.data as unknown as QueueTicket)
  t.ok(events.length >= 2, `${events.length} events`)
  const positions = events.map((event) => event.position!)
  t.same(positions, [...positions].sort((a, b) => b - a), 'the position only moves forward')
  t.equal(events.at(-1), admitted.data as unknown as QueueTicket)
  t.match(admitted.data, { status: 'admitted', position: 0 })

  t.equal((await app.inject(`/shows/${show.id}/queue/bad/events`)).statusCode, 400)
})
