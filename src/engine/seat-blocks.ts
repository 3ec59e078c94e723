/**
 * The rules that choose blocks of adjacent seats for holds of seats together, apart from the SQL
 * that finds the free seats and writes the holds: given a show's rows, its focal point and its
 * free seats, which block each hold gets.
 *
 * A block is `quantity` adjacent seats of one row (consecutive numbers; a numbered show is one
 * row). Among the blocks that fit, a hold gets the one whose centre is closest to the focal point,
 * where a row further back or forward counts as far as two seats to the side (a row is about
 * twice as deep as a seat is wide) and rows are taken as centred on one another, so the middle of
 * every row lies straight behind the middle of the front row. A block is tidy when it leaves no
 * single free seat alone between taken seats or the row's end. In a row that has a tidy block,
 * the others are passed over; and the closest tidy block of any row wins over a closer untidy one
 * unless it is more than a row's distance further: a seat left alone is a seat no party can buy.
 * Ties go to the front-most row, then the lowest seat.
 */

/** How far one row counts, in seats to the side. */
const rowWeight = 2

export interface Layout {
  /** The rows from the front: where each starts in seat order (seat_no) and how many seats it has. */
  rows: Array<{ firstSeatNo: number, seats: number }>
  /** The focal point: the index of its row, and its seat number there (a half for a middle between two seats). */
  focal: { row: number, seat: number }
}

/** What the show's row records say about its layout; a numbered show has no rows and is one row. */
export interface ShowLayout {
  total_seats: number
  row_labels: string[] | null
  row_seats: number[] | null
  focal_row: string | null
  focal_seat: number | null
}

export function layoutOf (show: ShowLayout): Layout {
  const lengths = show.row_seats ?? [show.total_seats]
  let firstSeatNo = 1
  const rows = lengths.map((seats) => {
    const row = { firstSeatNo, seats }
    firstSeatNo += seats
    return row
  })
  // The database keeps a focal row among the show's rows.
  const focalRow = show.focal_row === null || show.row_labels === null ? 0 : show.row_labels.indexOf(show.focal_row)
  return { rows, focal: { row: focalRow, seat: show.focal_seat ?? (rows[focalRow]!.seats + 1) / 2 } }
}

/** Free seats first..last, adjacent, of one row (seat numbers in the row). */
export interface Run { first: number, last: number }

/** A block of `seats` adjacent seats of row `row` from seat number `first`. */
export interface Block { row: number, first: number, seats: number }

/** The free seats by row: runs of adjacent free seats in each row, in seat order. */
export type FreeSeats = Run[][]

/**
 * The free seats by row, from runs of consecutive free seat_nos in seat order; a run that goes on
 * past the end of a row goes on in the next, where it is a run of its own.
 */
export function freeSeatsOf (layout: Layout, seatNoRuns: Array<{ first: number, last: number }>): FreeSeats {
  const free: FreeSeats = layout.rows.map(() => [])
  let row = 0
  for (const run of [...seatNoRuns].sort((a, b) => a.first - b.first)) {
    let first = run.first
    while (first <= run.last) {
      while (first >= layout.rows[row]!.firstSeatNo + layout.rows[row]!.seats) row++
      const { firstSeatNo, seats } = layout.rows[row]!
      const last = Math.min(run.last, firstSeatNo + seats - 1)
      free[row]!.push({ first: first - firstSeatNo + 1, last: last - firstSeatNo + 1 })
      first = last + 1
    }
  }
  return free
}

const lengthOf = (run: Run): number => run.last - run.first + 1

/** How many seats are free, and the longest run of adjacent free seats in one row. */
export interface FreeSummary { available: number, largestBlock: number }

export function freeSummary (free: FreeSeats): FreeSummary {
  const runs = free.flat()
  // Not Math.max(...runs): a show of many free runs would overflow the call's arguments.
  return { available: runs.reduce((sum, run) => sum + lengthOf(run), 0), largestBlock: runs.reduce((largest, run) => Math.max(largest, lengthOf(run)), 0) }
}

/**
 * Where a block of `seats` may start in `run`, as ranges of first seats. `tidy`: only where it
 * leaves no single free seat alone at either side (the run exactly filled, or two seats or more
 * left on a side).
 */
function starts (run: Run, seats: number, tidy: boolean): Array<[number, number]> {
  const latest = run.last - seats + 1
  if (!tidy) return [[run.first, latest]]
  const spare = lengthOf(run) - seats
  if (spare === 0) return [[run.first, run.first]]
  if (spare === 1) return []
  return [[run.first, run.first], ...(run.first + 2 <= latest - 2 ? [[run.first + 2, latest - 2] as [number, number]] : []), [latest, latest]]
}

/**
 * The block closest to the focal point that `free` has room for, preferring tidy ones (see the
 * top of this module), or undefined when no row has `seats` adjacent free seats.
 */
export function chooseBlock (layout: Layout, free: FreeSeats, seats: number): Block | undefined {
  const focalRow = layout.rows[layout.focal.row]!
  // The focal point's distance to the side of its row's middle, the same in every row.
  const focalOffset = layout.focal.seat - (focalRow.seats + 1) / 2
  let best: { block: Block, distance: number } | undefined
  let bestTidy: typeof best
  free.forEach((runs, row) => {
    const fitting = runs.filter((run) => lengthOf(run) >= seats)
    if (fitting.length === 0) return
    const tidy = fitting.some((run) => lengthOf(run) === seats || lengthOf(run) >= seats + 2)
    // The first seat that would put the block's centre straight behind (or before) the focal point.
    const ideal = (layout.rows[row]!.seats + 1) / 2 + focalOffset - (seats - 1) / 2
    const depth = rowWeight * (row - layout.focal.row)
    for (const run of fitting) {
      for (const [earliest, latest] of starts(run, seats, tidy)) {
        // Nearest to the ideal, the lower on a tie.
        const first = Math.min(latest, Math.max(earliest, Math.ceil(ideal - 0.5)))
        const distance = Math.hypot(depth, first - ideal)
        if (best === undefined || distance < best.distance) best = { block: { row, first, seats }, distance }
        if (tidy && (bestTidy === undefined || distance < bestTidy.distance)) bestTidy = { block: { row, first, seats }, distance }
      }
    }
  })
  if (bestTidy !== undefined && bestTidy.distance <= best!.distance + rowWeight) return bestTidy.block
  return best?.block
}

/** Takes the block's seats out of the free seats. */
export function take (free: FreeSeats, block: Block): void {
  const runs = free[block.row]!
  const index = runs.findIndex((run) => run.first <= block.first && block.first + block.seats - 1 <= run.last)
  const run = runs[index]!
  const left = { first: run.first, last: block.first - 1 }
  const right = { first: block.first + block.seats, last: run.last }
  runs.splice(index, 1, ...[left, right].filter((rest) => lengthOf(rest) > 0))
}

/** The seat_nos of a block, in seat order. */
export const seatNosOf = (layout: Layout, block: Block): number[] =>
  Array.from({ length: block.seats }, (_, index) => layout.rows[block.row]!.firstSeatNo + block.first - 1 + index)

/**
 * Blocks for holds of seats together, in the order they were asked: each takes the block closest
 * to the focal point among the seats the holds before it left, or learns that none fits and what
 * was free then. A hold
 * that does not fit does not stop a later, smaller one. Takes the granted blocks out of `free`.
 */
export function assignBlocks (layout: Layout, free: FreeSeats, quantities: number[]): Array<{ block: Block } | { noBlock: FreeSummary }> {
  return quantities.map((seats) => {
    const block = chooseBlock(layout, free, seats)
    if (block === undefined) return { noBlock: freeSummary(free) }
    take(free, block)
    return { block }
  })
}
