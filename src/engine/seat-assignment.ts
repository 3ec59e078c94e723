/**
 * The rules that hand seats out to holds, apart from the SQL that finds and writes them: given the
 * seats a statement found free and locked, which hold gets which seats.
 */

export interface Seat {
  seat_no: number
  label: string
}

/** A seat found free and locked for the holds: never held, or held by a hold that has ended. */
export interface FoundSeat extends Seat {
  /** Held by a hold that has ended and not swept yet: its seat row still names that booking. */
  lapsed: boolean
}

export interface Assignment {
  /** For each hold, in the order asked: its seats, or undefined when the seats ran out before it. */
  seats: Array<Seat[] | undefined>
  /**
   * Lapsed seats that were found but are not among the lowest: given back to the free seats now,
   * so later holds find them in seat order (see pickSeats).
   */
  released: number[]
  /** How many seats were picked for the holds: the lowest found, as many as all of them ask for at most. */
  picked: number
}

/**
 * Hands out the lowest of the found seats to the holds in the order they were asked, each all or
 * none: the seats for `quantities[i]` follow those of the holds before it, so once one does not
 * fit, no later one does either (a later, smaller hold does not jump the queue).
 */
export function assignSeats (quantities: number[], found: FoundSeat[]): Assignment {
  const wanted = quantities.reduce((sum, quantity) => sum + quantity, 0)
  const lowest = [...found].sort((a, b) => a.seat_no - b.seat_no)
  const picked = lowest.slice(0, wanted)
  let before = 0
  const seats = quantities.map((quantity) => {
    const from = before
    before += quantity
    return before <= picked.length ? picked.slice(from, before) : undefined
  })
  return { seats, released: lowest.slice(wanted).filter((seat) => seat.lapsed).map((seat) => seat.seat_no), picked: picked.length }
}

/** A seat asked for by its label, found and locked, with whether it may be held. */
export interface LabelledSeat extends Seat {
  free: boolean
}

/** The seats of a hold of exactly `labels`: all of them when all are free, else the labels that are not. */
export function assignLabels (labels: string[], found: LabelledSeat[]): { seats: Seat[] } | { unavailable: string[] } {
  const free = new Map(found.filter((seat) => seat.free).map((seat) => [seat.label, seat]))
  const unavailable = labels.filter((label) => !free.has(label))
  if (unavailable.length > 0) return { unavailable }
  return { seats: [...free.values()].sort((a, b) => a.seat_no - b.seat_no) }
}
