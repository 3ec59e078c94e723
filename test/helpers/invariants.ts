import { sql } from 'kysely'
import type { Database } from '../../src/db/database.ts'

/**
 * Every way the seats and bookings of a show could disagree, as readable lines; empty when all
 * hold. Live means CONFIRMED, or PENDING with its hold not yet ended.
 */
export async function invariantViolations (db: Database, showId: string): Promise<string[]> {
  const { rows } = await sql<{ problem: string }>`
    WITH live AS (
      SELECT * FROM bookings
      WHERE show_id = ${showId} AND (status = 'CONFIRMED' OR (status = 'PENDING' AND hold_expires_at > now()))
    )
    SELECT format('seat %s is listed by %s live bookings', bs.seat_no, count(*)) AS problem
    FROM booking_seats bs JOIN live ON live.id = bs.booking_id AND live.show_id = bs.show_id
    GROUP BY bs.seat_no HAVING count(*) > 1
    UNION ALL
    SELECT format('live booking %s lists seat %s but the seat is held by %s', live.id, bs.seat_no, coalesce(s.booking_id::text, 'nobody'))
    FROM live JOIN booking_seats bs ON bs.booking_id = live.id AND bs.show_id = live.show_id
    JOIN seats s ON s.show_id = bs.show_id AND s.seat_no = bs.seat_no
    WHERE s.booking_id IS DISTINCT FROM live.id
    UNION ALL
    SELECT format('live booking %s has %s seats for a quantity of %s', live.id, count(bs.seat_no), live.quantity)
    FROM live LEFT JOIN booking_seats bs ON bs.booking_id = live.id AND bs.show_id = live.show_id
    GROUP BY live.id, live.quantity HAVING count(bs.seat_no) <> live.quantity
    UNION ALL
    SELECT format('seat %s is booked by %s, which is %s', s.seat_no, b.id, b.status)
    FROM seats s JOIN bookings b ON b.id = s.booking_id AND b.show_id = s.show_id
    WHERE s.show_id = ${showId} AND s.hold_expires_at IS NULL AND b.status <> 'CONFIRMED'
    UNION ALL
    SELECT format('seat %s is held until %s by %s, whose hold ends %s (%s)', s.seat_no, s.hold_expires_at, b.id, b.hold_expires_at, b.status)
    FROM seats s JOIN bookings b ON b.id = s.booking_id AND b.show_id = s.show_id
    WHERE s.show_id = ${showId} AND s.hold_expires_at > now() AND (b.status <> 'PENDING' OR b.hold_expires_at <> s.hold_expires_at)
  `.execute(db)
  return [...rows.map((row) => row.problem), ...await missingRoutes(db, showId)]
}

/**
 * Bookings of the show whose id does not lead to it (booking_shows). Two reads, not a join: on
 * Citus the routes are distributed by booking id, the bookings by show.
 */
async function missingRoutes (db: Database, showId: string): Promise<string[]> {
  const ids = (await db.selectFrom('bookings').select('id').where('show_id', '=', showId).execute()).map((row) => row.id)
  if (ids.length === 0) return []
  const routes = await db.selectFrom('booking_shows').select(['booking_id', 'show_id']).where('booking_id', 'in', ids).execute()
  const routed = new Map(routes.map((route) => [route.booking_id, route.show_id]))
  return ids.filter((id) => routed.get(id) !== showId).map((id) => `booking ${id} leads to ${routed.get(id) ?? 'no show'}`)
}

export interface SeatCounts { free: number, held: number, booked: number, total: number }

/** Counts straight from the seats, independent of the API's counting. */
export async function seatCounts (db: Database, showId: string): Promise<SeatCounts> {
  const { rows: [counts] } = await sql<SeatCounts>`
    SELECT count(*) FILTER (WHERE booking_id IS NULL OR hold_expires_at <= now())::int AS free,
           count(*) FILTER (WHERE hold_expires_at > now())::int AS held,
           count(*) FILTER (WHERE booking_id IS NOT NULL AND hold_expires_at IS NULL)::int AS booked,
           count(*)::int AS total
    FROM seats WHERE show_id = ${showId}`.execute(db)
  return counts!
}
