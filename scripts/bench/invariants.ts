import { sql } from 'kysely'
import type { Database } from '../../src/db/database.ts'
import { availability } from './api.ts'
import { yes, type Row } from './table.ts'

/**
 * What must hold after any sale on one show, however fast it went: no seat in two live bookings,
 * every 201 holding its seats, and the show's counts adding up.
 */

export type Invariants = Awaited<ReturnType<typeof seatInvariants>>

/** What the 201s of a sale hold, and the seats each hold that got no answer may hold besides. */
export interface Held {
  /** The seats of the 201s. */
  seats: number
  /** How the table says it: `2 x 201s`. */
  rule: string
  /** Holds the client gave up on (a timeout, a dropped connection): the server may have made them. */
  unanswered: number
  /** The most seats one of them holds. */
  seatsPerUnanswered: number
}

/** The invariants of a sale of 2-seat holds. */
export async function saleInvariants (server: { base: string, db: Database }, showId: string, seats: number, created: number, unanswered = 0) {
  return await seatInvariants(server, showId, seats, { seats: 2 * created, rule: '2 x 201s', unanswered, seatsPerUnanswered: 2 })
}

export async function seatInvariants (server: { base: string, db: Database }, showId: string, seats: number, expected: Held) {
  const { rows: [doubled] } = await sql<{ seats: number }>`
    SELECT count(*)::int AS seats FROM (
      SELECT bs.seat_no FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id AND b.show_id = bs.show_id
      WHERE bs.show_id = ${showId}
        AND (b.status = 'CONFIRMED' OR (b.status = 'PENDING' AND b.hold_expires_at > now()))
      GROUP BY bs.seat_no HAVING count(*) > 1
    ) AS twice`.execute(server.db)
  const { rows: [held] } = await sql<{ seats: number }>`
    SELECT count(*)::int AS seats FROM seats WHERE show_id = ${showId} AND hold_expires_at > now()`.execute(server.db)
  const { rows: [keys] } = await sql<{ recorded: number }>`
    SELECT count(*)::int AS recorded FROM idempotency_keys WHERE outcome -> 'booking' ->> 'show_id' = ${showId}`.execute(server.db)
  const counts = await availability(server.base, showId)
  const seatsInTwoLiveBookings = doubled?.seats ?? -1
  const heldSeats = held?.seats ?? -1
  return {
    seatsInTwoLiveBookings,
    heldSeats,
    expectedHeldSeats: expected.seats,
    rule: expected.rule,
    unanswered: expected.unanswered,
    unansweredSeats: expected.unanswered * expected.seatsPerUnanswered,
    keysRecorded: keys?.recorded ?? -1,
    availability: counts,
    ok: {
      noSeatInTwoLiveBookings: seatsInTwoLiveBookings === 0,
      heldSeatsMatch201s: heldSeats >= expected.seats && heldSeats <= expected.seats + expected.unanswered * expected.seatsPerUnanswered,
      availabilityAddsUp: counts.available + counts.held + counts.booked === counts.total && counts.total === seats
    }
  }
}

export function invariantRows (phase: string, checks: Invariants): Row[] {
  return [
    { phase, metric: 'seats in two live bookings', value: String(checks.seatsInTwoLiveBookings), target: '0', pass: checks.ok.noSeatInTwoLiveBookings },
    checks.unanswered === 0
      ? { phase, metric: `held seats = ${checks.rule}`, value: `${checks.heldSeats} vs ${checks.expectedHeldSeats}`, target: 'equal', pass: checks.ok.heldSeatsMatch201s }
      : {
          phase,
          metric: `held seats = ${checks.rule}, + ${checks.unansweredSeats / checks.unanswered} per unanswered hold at most`,
          value: `${checks.heldSeats} vs ${checks.expectedHeldSeats} + ${checks.unansweredSeats}`,
          target: 'within',
          pass: checks.ok.heldSeatsMatch201s
        },
    { phase, metric: 'availability adds up', value: yes(checks.ok.availabilityAddsUp), target: 'yes', pass: checks.ok.availabilityAddsUp }
  ]
}
