import { connect, type AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import t from 'tap'
import { problemCodes } from '../api/index.ts'
import { admin, createShow, holdOk, testApp } from './helpers/app.ts'

t.test('a wrong method on a real path answers 405 with Allow; an unknown path stays 404', async (t) => {
  const { app } = await testApp(t)
  for (const [method, url, allow] of [['DELETE', '/bookings/x', 'GET, HEAD'], ['GET', '/bookings/x/confirm', 'POST'], ['PUT', '/shows/', 'GET, HEAD'], ['DELETE', '/admin/shows', 'GET, HEAD, POST']] as const) {
    const response = await app.inject({ method, url })
    t.equal(response.statusCode, 405, `${method} ${url}`)
    t.equal(response.headers.allow, allow)
    t.match(response.json(), { code: 'method_not_allowed', status: 405 })
  }
  const unknown = await app.inject({ method: 'DELETE', url: '/nowhere' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.headers.allow, undefined)
})

t.test('a malformed id answers the 404 of its resource, as an unknown id does', async (t) => {
  const { app } = await testApp(t)
  const long = 'x'.repeat(3000)
  const badEncoding = '%E0%A4%A'
  const cases = [
    ['GET', '/shows/{id}', 'show_not_found'],
    ['GET', '/shows/{id}/seats', 'show_not_found'],
    ['GET', '/admin/shows/{id}/bookings', 'show_not_found'],
    ['GET', '/bookings/{id}', 'booking_not_found'],
    ['POST', '/bookings/{id}/confirm', 'booking_not_found'],
    ['GET', '/problems/{id}', 'route_not_found']
  ] as const
  for (const [method, path, code] of cases) {
    for (const id of [crypto.randomUUID(), long, badEncoding]) {
      const url = path.replace('{id}', id)
      const response = await app.inject({ method, url, headers: admin })
      const name = `${method} ${path} with ${id.slice(0, 40)}`
      t.equal(response.statusCode, 404, name)
      t.match(response.headers['content-type'], /^application\/problem\+json/, name)
      t.match(response.json(), { status: 404, code, type: `/problems/${code}`, instance: url }, name)
    }
  }
})

t.test('a URL too long for the request line and headers (16 KiB) is refused as a problem', async (t) => {
  const { app } = await testApp(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const socket = connect(port, '127.0.0.1')
  socket.end(`GET /shows/${'x'.repeat(17_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)
  const chunks: Buffer[] = []
  for await (const chunk of socket) chunks.push(chunk as Buffer)
  const [head = '', body = ''] = Buffer.concat(chunks).toString().split('\r\n\r\n')
  t.match(head, /^HTTP\/1.1 431 .*\r\nContent-Type: application\/problem\+json\r\n/)
  t.match(JSON.parse(body), { status: 431, code: 'headers_too_large' })
})

t.test('a 201 names the new resource in Location', async (t) => {
  const { app } = await testApp(t)
  const created = await app.inject({ method: 'POST', url: '/admin/shows', headers: admin, payload: { name: 'x', start_time: new Date(Date.now() + 3600_000).toISOString(), total_seats: 2 } })
  t.equal(created.statusCode, 201)
  t.equal(created.headers.location, `/shows/${created.json().id}`)
  t.same((await app.inject(created.headers.location!)).json(), created.json())
  const held = await app.inject({ method: 'POST', url: '/bookings', payload: { show_id: created.json().id, quantity: 1 } })
  t.equal(held.headers.location, `/bookings/${held.json().id}`)
  t.same((await app.inject(held.headers.location!)).json(), held.json())
})

t.test('a 401 says how to authenticate', async (t) => {
  const { app } = await testApp(t)
  const response = await app.inject('/admin/shows')
  t.equal(response.statusCode, 401)
  t.match(response.headers['www-authenticate'], /^Bearer /)
})

t.test('X-Request-Id: a sensible one is kept, echoed and logged; anything else is replaced by a UUID', async (t) => {
  let logs = ''
  const logTo = new Writable({ write (chunk, _encoding, done) { logs += String(chunk); done() } })
  const { app } = await testApp(t, { logTo })
  const kept = await app.inject({ url: '/health', headers: { 'x-request-id': 'lb-7f3a.91:2' } })
  t.equal(kept.headers['x-request-id'], 'lb-7f3a.91:2')
  t.match(logs, /"reqId":"lb-7f3a\.91:2"/)
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
  for (const sent of [undefined, 'x'.repeat(129), 'a b', 'a"b', '']) {
    const response = await app.inject({ url: '/nope', headers: sent === undefined ? {} : { 'x-request-id': sent } })
    t.match(response.headers['x-request-id'], uuid, `sent ${String(sent).slice(0, 20)}`)
  }
})

t.test('shows and seat maps carry an ETag (304 while current) and a short Cache-Control', async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 3 })
  const policies: Array<[string, string]> = [['/shows', 'public, max-age=5'], [`/shows/${show.id}`, 'public, max-age=5'], [`/shows/${show.id}/seats`, 'no-cache'], [`/shows/${show.id}/availability`, 'no-cache']]
  for (const [url, policy] of policies) {
    const first = await app.inject(url)
    t.equal(first.headers['cache-control'], policy, url)
    const tag = first.headers.etag as string
    t.match(tag, /^"/)
    const again = await app.inject({ url, headers: { 'if-none-match': tag } })
    t.equal(again.statusCode, 304, url)
    t.equal(again.body, '')
    t.equal(again.headers['cache-control'], policy)
  }
  const seats = await app.inject(`/shows/${show.id}/seats`)
  await holdOk(app, { show_id: show.id, quantity: 1 })
  const changed = await app.inject({ url: `/shows/${show.id}/seats`, headers: { 'if-none-match': seats.headers.etag as string } })
  t.equal(changed.statusCode, 200, 'a hold changes the seat map')
  t.not(changed.headers.etag, seats.headers.etag)
  t.equal((await app.inject(`/shows/${crypto.randomUUID()}`)).headers['cache-control'], undefined, 'a 404 is not cached')
})

t.test('a problem\'s type is a page of the service that describes its code, and instance is the request\'s path', async (t) => {
  const { app } = await testApp(t)
  const missing = await app.inject({ method: 'POST', url: '/bookings/0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10/confirm?x=1' })
  t.match(missing.json(), { code: 'booking_not_found', type: '/problems/booking_not_found', instance: '/bookings/0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10/confirm' })
  const page = await app.inject(missing.json().type)
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/plain/)
  t.match(page.body, /^booking_not_found\n404 No such booking\n/)
  const index = await app.inject('/problems')
  for (const code of problemCodes) {
    t.equal((await app.inject(`/problems/${code}`)).statusCode, 200, code)
    t.match(index.body, `The page: /problems/${code}\n`)
  }
  t.match((await app.inject('/problems/no_such_code')).json(), { status: 404, code: 'route_not_found' })
})

t.test('the headers a 429 carries are the ones the document declares for it', async (t) => {
  const { app } = await testApp(t, { http: { rateLimits: { bookingsPerMinute: 1, adminPerMinute: 0 } } })
  const document = (await app.inject('/docs/json')).json()
  const declared = Object.keys(document.paths['/bookings'].post.responses['429'].headers).map((name) => name.toLowerCase()).sort()
  const payload = { show_id: crypto.randomUUID(), quantity: 1 }
  await app.inject({ method: 'POST', url: '/bookings', payload })
  const limited = await app.inject({ method: 'POST', url: '/bookings', payload })
  t.equal(limited.statusCode, 429)
  for (const name of declared) t.ok(limited.headers[name] !== undefined, `${name} is sent`)
  t.same(Object.keys(limited.headers).filter((name) => /^(retry-after|x-ratelimit-)/.test(name)).sort(), declared)
})
