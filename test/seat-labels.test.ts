import t from 'tap'
import { rowsShareALabel, type SeatRow } from '../src/engine/seat-labels.ts'

/** Whether two seats get the same label, by making every label. */
const shareByListing = (rows: SeatRow[]) => {
  const labels = rows.flatMap((row) => Array.from({ length: row.seats }, (_, i) => `${row.label}${i + 1}`))
  return new Set(labels).size < labels.length
}

t.test('rows share a label exactly when listing their labels finds one twice', async (t) => {
  // Labels of few characters, so that prefixes and digits meet often: a seeded walk over layouts.
  const characters = ['1', '2', '0', 'A']
  let seed = 1
  const next = (n: number) => { seed = (seed * 48271) % 2147483647; return seed % n }
  let shared = 0
  for (let layout = 0; layout < 3000; layout++) {
    const rows = new Map<string, number>()
    for (let i = 1 + next(4); i > 0; i--) {
      const label = Array.from({ length: 1 + next(3) }, () => characters[next(characters.length)]).join('')
      rows.set(label, 1 + next(next(2) === 0 ? 30 : 250))
    }
    const layoutRows = [...rows].map(([label, seats]) => ({ label, seats }))
    const expected = shareByListing(layoutRows)
    if (expected) shared++
    if (rowsShareALabel(layoutRows) !== expected) t.fail(`${JSON.stringify(layoutRows)}: expected ${expected}`)
  }
  t.ok(shared > 100 && shared < 2900, `both answers are tried (${shared} of 3000 share a label)`)
})
