import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { createShow, postShow } from '../scripts/bench/api.ts'

/** A server that sheds its first `shed` requests with 503 overloaded and Retry-After: 1, then creates. */
async function sheddingServer (t: Test, shed: number): Promise<{ base: string, requests: () => number }> {
  let requests = 0
  const server = http.createServer((request, response) => {
    request.resume()
    requests++
    const overloaded = requests <= shed
    response.writeHead(overloaded ? 503 : 201, { 'content-type': 'application/json', ...(overloaded && { 'retry-after': '1' }) })
    response.end(JSON.stringify(overloaded ? { status: 503, code: 'overloaded' } : { id: 'show-1' }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests }
}

t.test("the bench's setup creates a show through a shed 503, after Retry-After", async (t) => {
  const server = await sheddingServer(t, 1)
  const started = Date.now()
  t.equal(await createShow(server.base, 'bench: retried', 10), 'show-1', 'the show is created')
  t.equal(server.requests(), 2, 'on the second request')
  t.ok(Date.now() - started >= 1000, 'after waiting the second Retry-After asked for')
})

t.test('a measured creation asks once and reports the 503', async (t) => {
  const server = await sheddingServer(t, 1)
  const { status } = await postShow(server.base, 'bench: measured', 10)
  t.equal(status, 503, 'the 503 is the answer')
  t.equal(server.requests(), 1, 'with no retry')
})
