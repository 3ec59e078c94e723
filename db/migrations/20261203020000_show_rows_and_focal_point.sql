-- migrate:up

-- A show keeps its rows, in order, with their lengths: a hold of seats together needs to know
-- where each row starts and how far it is from the focal point, including rows that are sold out.
-- Its focal point (the best place in the hall) is a row and a seat number; NULL for the default,
-- the middle of the front row.
ALTER TABLE shows
  ADD COLUMN row_labels text[],
  ADD COLUMN row_seats integer[],
  ADD COLUMN focal_row text,
  ADD COLUMN focal_seat integer;

UPDATE shows SET (row_labels, row_seats) = (
  SELECT array_agg(r.row_label ORDER BY r.first), array_agg(r.seats ORDER BY r.first)
  FROM (
    SELECT seats.row_label, min(seats.seat_no) AS first, count(*)::int AS seats
    FROM seats WHERE seats.show_id = shows.id GROUP BY seats.row_label
  ) AS r
) WHERE layout = 'rows';

ALTER TABLE shows
  ADD CONSTRAINT shows_rows_check CHECK (
    (layout = 'rows') = (row_labels IS NOT NULL)
    AND (row_labels IS NULL) = (row_seats IS NULL)
    AND cardinality(row_labels) = cardinality(row_seats)
  ),
  ADD CONSTRAINT shows_focal_row_check CHECK (focal_row IS NULL OR focal_row = ANY (row_labels)),
  ADD CONSTRAINT shows_focal_seat_check CHECK (focal_seat > 0);

-- migrate:down

ALTER TABLE shows
  DROP COLUMN focal_seat,
  DROP COLUMN focal_row,
  DROP COLUMN row_seats,
  DROP COLUMN row_labels;
