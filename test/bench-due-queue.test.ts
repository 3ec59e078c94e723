import t from 'tap'
import { createDueQueue } from '../scripts/bench/due-queue.ts'

t.test('the on-sale\'s buyers come out earliest due first, only once due, each once', async (t) => {
  const times = Array.from({ length: 500 }, (_, i) => (i * 7919) % 1000)
  const queue = createDueQueue((item: { at: number }) => item.at, times.map((at) => ({ at })))
  t.equal(queue.size, 500)
  t.equal(queue.nextDue(), Math.min(...times))
  const taken: number[] = []
  for (let item = queue.takeDue(499); item !== undefined; item = queue.takeDue(499)) taken.push(item.at)
  t.same(taken, [...times].filter((at) => at <= 499).sort((a, b) => a - b), 'those due by then, in order')
  t.equal(queue.nextDue(), Math.min(...times.filter((at) => at > 499)), 'the rest wait')

  queue.push({ at: 3 })
  t.equal(queue.takeDue(1_000)?.at, 3, 'one put back comes out in its turn')
  const rest: number[] = []
  for (let item = queue.takeDue(Infinity); item !== undefined; item = queue.takeDue(Infinity)) rest.push(item.at)
  t.same(rest, [...times].filter((at) => at > 499).sort((a, b) => a - b))
  t.equal(queue.size, 0)
  t.equal(queue.nextDue(), Infinity)
})
