import t from 'tap'
import { assignBlocks, chooseBlock, freeSeatsOf, freeSummary, layoutOf, seatNosOf, type FreeSeats, type Layout } from '../src/engine/seat-blocks.ts'

/** A rows layout of these row lengths, with its focal point as a show would store it. */
const rows = (lengths: number[], focal: { row?: string, seat?: number } = {}): Layout => layoutOf({
  total_seats: lengths.reduce((sum, seats) => sum + seats, 0),
  row_labels: lengths.map((_, index) => String.fromCharCode(65 + index)),
  row_seats: lengths,
  focal_row: focal.row ?? null,
  focal_seat: focal.seat ?? null
})

/** Every seat of the layout free. */
const empty = (layout: Layout): FreeSeats => layout.rows.map((row) => [{ first: 1, last: row.seats }])

/** The free seats of each row, given as the seat numbers that are free. */
const freeAt = (layout: Layout, free: number[][]): FreeSeats =>
  freeSeatsOf(layout, free.flatMap((numbers, row) => numbers.map((number) => {
    const seatNo = layout.rows[row]!.firstSeatNo + number - 1
    return { first: seatNo, last: seatNo }
  })).reduce<Array<{ first: number, last: number }>>((runs, seat) => {
    const last = runs.at(-1)
    if (last !== undefined && last.last + 1 === seat.first) last.last = seat.first
    else runs.push({ ...seat })
    return runs
  }, []))

const range = (first: number, last: number): number[] => Array.from({ length: last - first + 1 }, (_, index) => first + index)

t.test('the focal point is the middle of the front row unless the show sets it', async (t) => {
  t.same(rows([20, 24]).focal, { row: 0, seat: 10.5 })
  t.same(rows([20, 24], { row: 'B' }).focal, { row: 1, seat: 12.5 }, 'the middle of the row it names')
  t.same(rows([20, 24], { row: 'B', seat: 3 }).focal, { row: 1, seat: 3 })
  t.same(rows([20, 24], { seat: 7 }).focal, { row: 0, seat: 7 }, 'a seat of the front row')
  const numbered = layoutOf({ total_seats: 41, row_labels: null, row_seats: null, focal_row: null, focal_seat: null })
  t.same(numbered, { rows: [{ firstSeatNo: 1, seats: 41 }], focal: { row: 0, seat: 21 } }, 'a numbered show is one row')
})

t.test('runs of free seat_nos are split where rows end', async (t) => {
  const layout = rows([4, 3, 5])
  t.same(freeSeatsOf(layout, [{ first: 3, last: 9 }, { first: 11, last: 12 }]), [
    [{ first: 3, last: 4 }],
    [{ first: 1, last: 3 }],
    [{ first: 1, last: 2 }, { first: 4, last: 5 }]
  ])
})

t.test('an empty hall gives the block centred on the middle of the front row', async (t) => {
  const layout = rows([10, 10, 10])
  t.same(chooseBlock(layout, empty(layout), 4), { row: 0, first: 4, seats: 4 }, 'A4-A7 around 5.5')
  t.same(chooseBlock(layout, empty(layout), 3), { row: 0, first: 4, seats: 3 }, 'A4-A6 and A5-A7 are as close: the lower')
  t.same(seatNosOf(layout, { row: 1, first: 4, seats: 3 }), [14, 15, 16])
})

t.test('a focal point set elsewhere draws the block to it', async (t) => {
  const layout = rows([10, 10, 10], { row: 'C', seat: 9 })
  t.same(chooseBlock(layout, empty(layout), 3), { row: 2, first: 8, seats: 3 }, 'C8-C10, centred on C9')
  t.same(chooseBlock(layout, empty(layout), 2), { row: 2, first: 9, seats: 2 }, 'C9-C10: C8-C9 is as close but would leave C10 alone')
})

t.test('rows are centred on one another and a row counts as two seats to the side', async (t) => {
  // Row B is 4 seats longer: its middle (7.5) lies behind A's (5.5).
  const layout = rows([10, 14])
  const free = freeAt(layout, [[1, 2, 9, 10], range(1, 14)])
  // A1-A2 and A9-A10: 4 seats from the middle; B7-B8, centred: a row back, which counts 2.
  t.same(chooseBlock(layout, free, 2), { row: 1, first: 7, seats: 2 }, 'B7-B8, centred behind the front row')
  const near = freeAt(layout, [[4, 5, 9, 10], range(1, 14)])
  t.same(chooseBlock(layout, near, 2), { row: 0, first: 4, seats: 2 }, 'A4-A5, one seat to the side, beats a row back')
})

t.test('a block that would leave a single seat alone is passed over for one of the same row that would not', async (t) => {
  const layout = rows([10])
  // A1-A3 taken; A5-A6 is centred but leaves A4 alone; A4-A5 and A6-A7 are as close, and tidy.
  t.same(chooseBlock(layout, freeAt(layout, [range(4, 10)]), 2), { row: 0, first: 4, seats: 2 })
  // A3-A10 free, 4 wanted: A4-A7 is centred but leaves A3 alone; A3-A6 and A5-A8 are as close.
  t.same(chooseBlock(layout, freeAt(layout, [range(3, 10)]), 4), { row: 0, first: 3, seats: 4 })
  // A2-A8 free, 5 wanted: A3-A7 is as close as A4-A8 but leaves A2 and A8 alone.
  t.same(chooseBlock(layout, freeAt(layout, [range(2, 8)]), 5), { row: 0, first: 4, seats: 5 })
})

t.test('a single seat is left alone when every block of the row would leave one', async (t) => {
  const layout = rows([10])
  // Only A4-A6 free: either block of 2 leaves one of them alone.
  t.same(chooseBlock(layout, freeAt(layout, [[4, 5, 6]]), 2), { row: 0, first: 5, seats: 2 }, 'A5-A6, the closer')
})

t.test('a tidy block of another row wins over one that leaves a seat alone, unless it is more than a row further', async (t) => {
  // Row A has only A5-A7 free: either block of 2 there leaves a seat alone.
  t.same(chooseBlock(rows([10, 10]), freeAt(rows([10, 10]), [[5, 6, 7], range(1, 10)]), 2), { row: 1, first: 5, seats: 2 }, 'B5-B6, a row back')
  const far = rows([10, 10, 10])
  t.same(chooseBlock(far, freeAt(far, [[5, 6, 7], [], range(1, 10)]), 2), { row: 0, first: 5, seats: 2 }, 'C5-C6 is two rows back: A5-A6')
})

t.test('on a numbered show a block is consecutive numbers around the middle', async (t) => {
  const layout = layoutOf({ total_seats: 40, row_labels: null, row_seats: null, focal_row: null, focal_seat: null })
  t.same(chooseBlock(layout, empty(layout), 6), { row: 0, first: 18, seats: 6 })
  t.same(seatNosOf(layout, { row: 0, first: 18, seats: 6 }), range(18, 23))
  const set = layoutOf({ total_seats: 40, row_labels: null, row_seats: null, focal_row: null, focal_seat: 1 })
  t.same(chooseBlock(layout, empty(layout), 1), { row: 0, first: 20, seats: 1 })
  t.same(chooseBlock(set, empty(set), 3), { row: 0, first: 1, seats: 3 }, 'a focal seat at the front door')
})

t.test('holds take blocks in the order asked; one that fits nowhere learns the free seats and the largest block', async (t) => {
  const layout = rows([4, 4])
  const free = freeAt(layout, [[1, 3, 4], [1, 2, 4]])
  const assigned = assignBlocks(layout, free, [3, 2, 2, 1])
  t.same(assigned, [
    { noBlock: { available: 6, largestBlock: 2 } },
    { block: { row: 0, first: 3, seats: 2 } },
    { block: { row: 1, first: 1, seats: 2 } },
    { block: { row: 0, first: 1, seats: 1 } }
  ], 'a smaller hold after a refused one still gets its block')
  t.same(freeSummary(free), { available: 1, largestBlock: 1 }, 'the granted blocks were taken out')
})

t.test('no free seat at all: nothing fits, nothing is free', async (t) => {
  const layout = rows([3])
  t.same(assignBlocks(layout, freeSeatsOf(layout, []), [1]), [{ noBlock: { available: 0, largestBlock: 0 } }])
})
