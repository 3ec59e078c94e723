-- migrate:up

-- The last line of defence against selling a seat twice reads the clock when it fires, not when
-- the transaction began: inside a longer transaction (a hold decided with its Idempotency-Key),
-- now() is that transaction's start, and a seat whose hold ended since would still count as live.
CREATE OR REPLACE FUNCTION seats_refuse_live_takeover() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.hold_expires_at IS NULL OR OLD.hold_expires_at > clock_timestamp() THEN
    RAISE EXCEPTION 'seat % of show % belongs to live booking %', OLD.label, OLD.show_id, OLD.booking_id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$;

-- Held seats by the end of their hold, then seat: holds take lapsed seats in the order their holds
-- ended without sorting them all, and look each one up again by the whole key under its lock.
DROP INDEX seats_held_idx;
CREATE INDEX seats_held_idx ON seats (show_id, hold_expires_at, seat_no) WHERE hold_expires_at IS NOT NULL;

-- A sale rewrites seat rows at hundreds a second, and every taken seat leaves a dead tuple and a
-- dead entry in seats_free_idx. The defaults vacuum a table once a fifth of it is dead, which for
-- a table holding many shows' seats means never during a sale. Vacuum seats and bookings once 1 %
-- (plus a thousand rows) is dead, and without the cost delay, so that dead entries are cleared
-- while the sale runs. Seat updates always change an indexed column (booking_id is in the partial
-- indexes' predicates, hold_expires_at in seats_held_idx), so they can never be HOT and a lower
-- fillfactor would only make the table larger.
ALTER TABLE seats SET (
  autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE bookings SET (
  autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE booking_seats SET (autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE idempotency_keys SET (
  autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0
);

-- migrate:down

ALTER TABLE idempotency_keys RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay);
ALTER TABLE booking_seats RESET (autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_cost_delay);
ALTER TABLE bookings RESET (
  autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_analyze_scale_factor, autovacuum_vacuum_cost_delay
);
ALTER TABLE seats RESET (
  autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_analyze_scale_factor, autovacuum_vacuum_cost_delay
);
DROP INDEX seats_held_idx;
CREATE INDEX seats_held_idx ON seats (show_id, hold_expires_at) WHERE hold_expires_at IS NOT NULL;
CREATE OR REPLACE FUNCTION seats_refuse_live_takeover() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.hold_expires_at IS NULL OR OLD.hold_expires_at > now() THEN
    RAISE EXCEPTION 'seat % of show % belongs to live booking %', OLD.label, OLD.show_id, OLD.booking_id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$;
