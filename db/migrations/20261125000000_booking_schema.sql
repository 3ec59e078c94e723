-- migrate:up

-- Shows are what admins sell: a concert, a bus trip, a clinic's slots.
CREATE TABLE shows (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  start_time timestamptz(3) NOT NULL,
  layout text NOT NULL CHECK (layout IN ('numbered', 'rows')),
  total_seats integer NOT NULL CHECK (total_seats > 0),
  created_at timestamptz(3) NOT NULL DEFAULT now()
);

-- Public listing pages through upcoming shows by (start_time, id).
CREATE INDEX shows_start_time_id_idx ON shows (start_time, id);

-- A booking starts as a PENDING hold that lapses at hold_expires_at. A lapsed hold may still be
-- stored as PENDING until the sweep writes EXPIRED: readers derive EXPIRED from the clock, so the
-- sweep is housekeeping, never what makes a hold end.
CREATE TABLE bookings (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  show_id uuid NOT NULL REFERENCES shows (id),
  status text NOT NULL DEFAULT 'PENDING'
    CHECK (status IN ('PENDING', 'CONFIRMED', 'EXPIRED', 'CANCELLED')),
  quantity integer NOT NULL CHECK (quantity > 0),
  hold_expires_at timestamptz(3) NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  confirmed_at timestamptz(3),
  cancelled_at timestamptz(3),
  expired_at timestamptz(3),
  -- Lets seats and booking_seats point at a booking of their own show only.
  UNIQUE (id, show_id),
  CHECK (hold_expires_at > created_at),
  -- A confirmation after the hold ended is impossible, whatever the application does. Timestamps
  -- keep milliseconds (what clients and cursors carry), so confirmed_at may round up to the end.
  CHECK (confirmed_at IS NULL OR confirmed_at <= hold_expires_at),
  CHECK (status <> 'CONFIRMED' OR confirmed_at IS NOT NULL),
  CHECK (status <> 'CANCELLED' OR cancelled_at IS NOT NULL),
  CHECK (status <> 'EXPIRED' OR (expired_at IS NOT NULL AND confirmed_at IS NULL AND cancelled_at IS NULL)),
  CHECK (status <> 'PENDING' OR (confirmed_at IS NULL AND cancelled_at IS NULL AND expired_at IS NULL))
);

CREATE INDEX bookings_show_created_idx ON bookings (show_id, created_at, id);
-- The sweep walks only holds still stored as PENDING, oldest end first.
CREATE INDEX bookings_pending_expiry_idx ON bookings (hold_expires_at) WHERE status = 'PENDING';

-- One row per seat. The row is the seat's lock and its state:
--   free      booking_id IS NULL, or a hold whose hold_expires_at has passed
--   held      booking_id set, hold_expires_at in the future
--   booked    booking_id set, hold_expires_at NULL
-- A seat has one holder column, so it cannot belong to two bookings at once.
CREATE TABLE seats (
  show_id uuid NOT NULL REFERENCES shows (id),
  seat_no integer NOT NULL CHECK (seat_no > 0),
  label text NOT NULL CHECK (label ~ '^[A-Z0-9]{1,8}$'),
  row_label text CHECK (row_label ~ '^[A-Z0-9]{1,4}$'),
  number integer NOT NULL CHECK (number > 0),
  booking_id uuid,
  hold_expires_at timestamptz(3),
  PRIMARY KEY (show_id, seat_no),
  UNIQUE (show_id, label),
  CHECK (booking_id IS NOT NULL OR hold_expires_at IS NULL)
);

-- Quantity holds take the lowest free seats: this index holds only never-taken or released seats,
-- so finding them never walks past held or booked ones. It is ordered by seat_no + 0, which the
-- hold statement orders by too: the primary key gives seat_no order as well and, since the planner
-- takes free seats to be spread evenly, it would otherwise often prefer walking the primary key
-- past every held seat at the front of the show.
CREATE INDEX seats_free_idx ON seats (show_id, (seat_no + 0)) WHERE booking_id IS NULL;
-- Held seats by the end of their hold: finds lapsed holds to reuse, and counts live ones.
CREATE INDEX seats_held_idx ON seats (show_id, hold_expires_at) WHERE hold_expires_at IS NOT NULL;
-- Counts booked seats without reading the free ones.
CREATE INDEX seats_booked_idx ON seats (show_id) WHERE booking_id IS NOT NULL AND hold_expires_at IS NULL;

-- Hold statements look seats up by (show_id, seat_no). When the planner's statistics list every
-- show it knows, a show created since the last ANALYZE is estimated at about one seat, and the
-- planner then walks all of that show's seats for every hold. Without statistics on show_id it
-- takes every show for an average share of the table, so plans stay on the per-seat indexes.
ALTER TABLE seats ALTER COLUMN show_id SET STATISTICS 0;

-- The seats each booking was given, kept after the booking ends (a seat's holder column moves on).
CREATE TABLE booking_seats (
  booking_id uuid NOT NULL,
  show_id uuid NOT NULL,
  seat_no integer NOT NULL,
  PRIMARY KEY (booking_id, show_id, seat_no),
  FOREIGN KEY (booking_id, show_id) REFERENCES bookings (id, show_id),
  FOREIGN KEY (show_id, seat_no) REFERENCES seats (show_id, seat_no)
);

-- A seat's holder must have the seat among its booking_seats: no seat is held by a booking that
-- does not list it, and no booking lists a seat it never got.
ALTER TABLE seats
  ADD CONSTRAINT seats_holder_fkey FOREIGN KEY (booking_id, show_id, seat_no)
  REFERENCES booking_seats (booking_id, show_id, seat_no);

-- The last line of defence against selling a seat twice: a seat may change holder only when it is
-- free (never taken, released, or its hold has lapsed). Any statement that tries to hand a live
-- seat to another booking fails, whatever bug or race produced it.
CREATE FUNCTION seats_refuse_live_takeover() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.hold_expires_at IS NULL OR OLD.hold_expires_at > now() THEN
    RAISE EXCEPTION 'seat % of show % belongs to live booking %', OLD.label, OLD.show_id, OLD.booking_id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER seats_refuse_live_takeover
  BEFORE UPDATE OF booking_id ON seats
  FOR EACH ROW
  WHEN (OLD.booking_id IS NOT NULL AND NEW.booking_id IS NOT NULL AND NEW.booking_id <> OLD.booking_id)
  EXECUTE FUNCTION seats_refuse_live_takeover();

-- Idempotency-Key records for POST /bookings. outcome is what the first request decided (a booking
-- id or an error with its details); NULL while that request is still running, until locked_until.
CREATE TABLE idempotency_keys (
  key text PRIMARY KEY CHECK (key ~ '^[\x21-\x7e]{1,255}$'),
  request_hash text NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  locked_until timestamptz(3),
  outcome jsonb,
  CHECK ((outcome IS NULL) = (locked_until IS NOT NULL))
);

CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- migrate:down

DROP TABLE idempotency_keys;
ALTER TABLE seats DROP CONSTRAINT seats_holder_fkey;
DROP TABLE booking_seats;
DROP TRIGGER seats_refuse_live_takeover ON seats;
DROP FUNCTION seats_refuse_live_takeover();
DROP TABLE seats;
DROP TABLE bookings;
DROP TABLE shows;
