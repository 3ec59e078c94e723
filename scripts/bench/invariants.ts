import { sql } from 'kysely'
import type { Database } from '../../src/db/database.ts'
import { availability } from './api.ts'
import { yes, type Row } from './table.ts'

/**
 * What must hold after any sale of 2-seat holds on one show, however fast it went: no seat in two
 * live bookings, every 201 holding its two seats, and the show's counts adding up.
 */

export type Invariants = Awaited<ReturnType<typeof saleInvariants>>

/**
 * `unanswered`: holds the client gave up on (a timeout, a dropped connection). The server may have
 * made them, so each may account for two more held seats.
 */
export async function saleInvariants (server: { base: string, db: Database }, showId: string, seats: number, created: number, unanswered = 0) {
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
    expectedHeldSeats: 2 * created,
    unanswered,
    keysRecorded: keys?.recorded ?? -1,
    availability: counts,
    ok: {
      noSeatInTwoLiveBookings: seatsInTwoLiveBookings === 0,
      heldSeatsMatch201s: heldSeats >= 2 * created && heldSeats <= 2 * (created + unanswered),
      availabilityAddsUp: counts.available + counts.held + counts.booked === counts.total && counts.total === seats
    }
  }
}

export function invariantRows (phase: string, checks: Invariants): Row[] {
  return [
    { phase, metric: 'seats in two live bookings', value: String(checks.seatsInTwoLiveBookings), target: '0', pass: checks.ok.noSeatInTwoLiveBookings },
    checks.unanswered === 0
      ? { phase, metric: 'held seats = 2 x 201s', value: `${checks.heldSeats} vs ${checks.expectedHeldSeats}`, target: 'equal', pass: checks.ok.heldSeatsMatch201s }
      : {
          phase,
          metric: 'held seats = 2 x 201s, + 2 per unanswered hold at most',
          value: `${checks.heldSeats} vs ${checks.expectedHeldSeats} + ${2 * checks.unanswered}`,
          target: 'within',
          pass: checks.ok.heldSeatsMatch201s
        },
    { phase, metric: 'availability adds up', value: yes(checks.ok.availabilityAddsUp), target: 'yes', pass: checks.ok.availabilityAddsUp }
  ]
}
