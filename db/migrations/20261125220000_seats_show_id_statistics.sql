-- migrate:up

-- Hold statements look seats up by (show_id, seat_no). When the planner's statistics list every
-- show it knows, a show created since the last ANALYZE is estimated at about one seat, and the
-- planner then walks all of that show's seats for every hold (tens of milliseconds on a large show).
-- Without statistics on show_id it assumes every show is an average share of the table, so plans
-- stay on the per-seat indexes whatever ANALYZE last saw.
ALTER TABLE seats ALTER COLUMN show_id SET STATISTICS 0;

-- migrate:down

ALTER TABLE seats ALTER COLUMN show_id SET STATISTICS -1;
