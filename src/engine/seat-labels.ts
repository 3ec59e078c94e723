import { sql } from 'kysely'

/**
 * Seat labels are a function of the show's layout, which never changes once the show exists: on a
 * numbered show seat n is labelled n; on a rows show the seats are numbered row by row in the rows'
 * order, and a row's seat n is labelled the row's label then n. Seats are made from the layout
 * (seatsOf), labels checked unique from it (rowsShareALabel), and seats found from labels through
 * it (seatNumbersOf), so that no index on labels is needed: keeping one up to date was the
 * costliest part of creating a large show, its entries arriving in no order of theirs.
 */

export interface SeatRow { label: string, seats: number }

/**
 * The seats of show `showId` as the rows of (show_id, seat_no, label, row_label, number), made
 * from the layout stored on the show's row (which seatNumbersOf reads too), so that the INSERT ...
 * SELECT is one the show's node runs alone.
 */
export function seatsOf (showId: string, layout: 'numbered' | 'rows') {
  if (layout === 'numbered') {
    return sql`SELECT shows.id, n, n::text, NULL, n FROM shows, generate_series(1, shows.total_seats) AS n WHERE shows.id = ${showId}`
  }
  return sql`
    SELECT shows.id, row_number() OVER (ORDER BY r.position, n), r.label || n, r.label, n
    FROM shows,
         unnest(shows.row_labels, shows.row_seats) WITH ORDINALITY AS r(label, seats, position),
         generate_series(1, r.seats) AS n
    WHERE shows.id = ${showId}`
}

/**
 * Whether two seats of these rows (of distinct labels) would have the same label. A seat number is
 * digits without a leading zero, so row A's seat n and row B's seat m can share a label only when
 * B is A followed by such digits d, and n reads as d then m. The least such n is d then 1 (m = 1,
 * which every row has): the two rows share a label exactly when A has that many seats.
 */
export function rowsShareALabel (rows: SeatRow[]): boolean {
  const seats = new Map(rows.map((row) => [row.label, row.seats]))
  return rows.some((row) => Array.from({ length: row.label.length - 1 }, (_, i) => i + 1).some((cut) => {
    const prefixSeats = seats.get(row.label.slice(0, cut))
    const digits = row.label.slice(cut)
    return prefixSeats !== undefined && /^[1-9][0-9]*$/.test(digits) && Number(`${digits}1`) <= prefixSeats
  }))
}

/**
 * The seat numbers of show `showId` that `labels` name, computed from the show's row as a
 * subquery for `seat_no IN`: a numbered show is one row with an empty label. A label is split
 * after each row label it starts with; what follows must be a seat number of that row (at most 8
 * digits, so it fits an int). Labels being unique, at most one split names a seat; the caller
 * still compares the seats' labels with those asked for.
 */
export function seatNumbersOf (showId: string, labels: string[]) {
  return sql<number>`(
    SELECT r.first_seat + n.number
    FROM shows,
         LATERAL (
           SELECT r.label, r.seats, sum(r.seats) OVER (ORDER BY r.position) - r.seats AS first_seat
           FROM unnest(coalesce(shows.row_labels, '{""}'), coalesce(shows.row_seats, ARRAY[shows.total_seats])) WITH ORDINALITY AS r(label, seats, position)
         ) AS r,
         unnest(${labels}::text[]) AS l(label),
         LATERAL (SELECT substr(l.label, length(r.label) + 1) AS digits) AS d,
         LATERAL (SELECT CASE WHEN d.digits ~ '^[1-9][0-9]{0,7}$' THEN d.digits::int END AS number) AS n
    WHERE shows.id = ${showId} AND starts_with(l.label, r.label) AND n.number <= r.seats
  )`
}
