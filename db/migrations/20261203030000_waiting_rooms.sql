-- migrate:up

-- A show may open its sale at a set time; holds before then are refused.
ALTER TABLE shows ADD COLUMN sales_open_at timestamptz(3);
ALTER TABLE shows ADD CONSTRAINT shows_sales_open_before_start CHECK (sales_open_at < start_time);

-- A show's waiting room: who joined, counted, never listed. A joiner's place is the count when it
-- joined (its sequence number); those who joined before the opening (the first
-- joined_before_opening of them) are placed at the opening in an order drawn from shuffle_seed.
-- Joining is one update of this row; every other answer is computed from it and the rates.
CREATE TABLE waiting_rooms (
  show_id uuid PRIMARY KEY REFERENCES shows (id),
  shuffle_seed bytea NOT NULL CHECK (octet_length(shuffle_seed) = 32),
  joined bigint NOT NULL DEFAULT 0 CHECK (joined >= 0),
  joined_before_opening bigint NOT NULL DEFAULT 0 CHECK (joined_before_opening BETWEEN 0 AND joined)
);

-- The admission rate over time, one row per setting, never changed: how many were admitted by any
-- instant is the count at the start of its setting (admitted_before) plus the rate times the time
-- since (from the opening on). A NULL rate is the room switched off: everyone is admitted.
CREATE TABLE waiting_room_rates (
  show_id uuid NOT NULL REFERENCES waiting_rooms (show_id),
  setting integer NOT NULL CHECK (setting >= 1),
  since timestamptz NOT NULL,
  admit_per_minute integer CHECK (admit_per_minute BETWEEN 1 AND 1000000),
  admitted_before double precision NOT NULL CHECK (admitted_before >= 0),
  PRIMARY KEY (show_id, setting)
);

-- The booking each admission last held, and the end of that hold as it was made: an admission
-- holds one live booking at a time. The end is on the row itself because a claim decides on the
-- row's latest version, once locked, while a booking committed meanwhile is not in its snapshot.
CREATE TABLE admissions (
  show_id uuid NOT NULL REFERENCES waiting_rooms (show_id),
  seq bigint NOT NULL CHECK (seq >= 1),
  booking_id uuid,
  held_until timestamptz(3),
  PRIMARY KEY (show_id, seq),
  CHECK ((booking_id IS NULL) = (held_until IS NULL))
);

-- migrate:down

DROP TABLE admissions;
DROP TABLE waiting_room_rates;
DROP TABLE waiting_rooms;
ALTER TABLE shows DROP COLUMN sales_open_at;
