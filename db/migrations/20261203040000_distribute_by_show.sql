-- migrate:up

-- Every hot-path decision concerns one show, so on Citus the show's id is the distribution column:
-- shows by id, every per-show table by show_id, all co-located, so that each statement about one
-- show runs on that show's node. On plain PostgreSQL the same migrations leave the tables local;
-- what changes on both is only what Citus needs of the schema.

-- A distributed table's primary key must hold the distribution column. (id, show_id) was already
-- unique (the foreign keys from booking_seats use it): it becomes the key, and ids stay unique
-- through booking_shows.
ALTER TABLE booking_seats DROP CONSTRAINT booking_seats_booking_id_show_id_fkey;
ALTER TABLE bookings DROP CONSTRAINT bookings_pkey;
ALTER TABLE bookings DROP CONSTRAINT bookings_id_show_id_key;
ALTER TABLE bookings ADD PRIMARY KEY (id, show_id);
ALTER TABLE booking_seats ADD FOREIGN KEY (booking_id, show_id) REFERENCES bookings (id, show_id);

-- Which show a booking is of, by the booking's id: what confirm, cancel and a read by id look up
-- first, so that they then run on the show's node alone. Distributed by the booking's id, not
-- co-located with the show: written after the hold commits (see docs/design.md, "Booking ids").
CREATE TABLE booking_shows (
  booking_id uuid PRIMARY KEY,
  show_id uuid NOT NULL
);
INSERT INTO booking_shows (booking_id, show_id) SELECT id, show_id FROM bookings;

-- Whether this database is a Citus coordinator with workers: the migrations distribute tables then.
CREATE FUNCTION citus_has_workers() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
    RETURN false;
  END IF;
  RETURN (SELECT count(*) > 0 FROM pg_catalog.pg_dist_node WHERE groupid <> 0 AND noderole = 'primary' AND isactive);
END;
$$;

-- Distributes per-show tables on Citus, co-located with shows (shows itself by id, the others by
-- show_id); does nothing on plain PostgreSQL. A migration that adds a per-show table calls it:
-- SELECT distribute_by_show(ARRAY['new_table']::regclass[]). Foreign keys between the tables are
-- dropped first and added back once all are distributed (Citus takes a foreign key only between
-- distributed, co-located tables, and a circular pair only that way). Each statement is its own
-- EXECUTE: Citus refuses DDL on a distributed table sent as part of a multi-statement string,
-- which is how dbmate sends a migration.
CREATE FUNCTION distribute_by_show(tables regclass[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  fk record;
  fks text[][] := '{}';
  t regclass;
BEGIN
  IF NOT citus_has_workers() THEN
    RETURN;
  END IF;
  FOR fk IN
    SELECT conrelid::regclass AS tbl, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
    WHERE contype = 'f' AND (conrelid = ANY (tables) OR confrelid = ANY (tables))
    ORDER BY conname
  LOOP
    fks := fks || ARRAY[[fk.tbl::text, fk.conname::text, fk.def]];
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
  END LOOP;
  -- Citus takes a table with triggers only with this on; the triggers left on per-show tables read
  -- only their own row and the clock, so each runs on its shard as it does on one server.
  PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
  FOREACH t IN ARRAY tables LOOP
    IF t = 'shows'::regclass THEN
      PERFORM create_distributed_table('shows', 'id');
    ELSE
      PERFORM create_distributed_table(t, 'show_id', colocate_with => 'shows');
    END IF;
  END LOOP;
  FOR i IN 1 .. coalesce(array_length(fks, 1), 0) LOOP
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fks[i][1], fks[i][2], fks[i][3]);
  END LOOP;
END;
$$;

-- On Citus, a show's seats are checked against it by a foreign key, which Citus checks on the
-- show's shard. The statement trigger that replaces the foreign key on one server locks the
-- shows its seats name through the distributed shows table, a lock over every shard that Citus
-- refuses; a show with seats cannot be deleted or renumbered because of that foreign key, and
-- Citus itself refuses to move a row to another show (its distribution column).
DO $$
BEGIN
  IF citus_has_workers() THEN
    EXECUTE 'DROP TRIGGER seats_check_show ON seats';
    EXECUTE 'DROP TRIGGER seats_refuse_show_change ON seats';
    EXECUTE 'DROP TRIGGER shows_refuse_seated_delete ON shows';
    EXECUTE 'DROP TRIGGER shows_refuse_seated_renumbering ON shows';
    EXECUTE 'ALTER TABLE seats ADD CONSTRAINT seats_show_id_fkey FOREIGN KEY (show_id) REFERENCES shows (id)';
    PERFORM distribute_by_show(ARRAY['shows', 'bookings', 'seats', 'booking_seats', 'idempotency_keys',
      'waiting_rooms', 'waiting_room_rates', 'admissions']::regclass[]);
    PERFORM create_distributed_table('booking_shows', 'booking_id', colocate_with => 'none');
  END IF;
END;
$$;

-- migrate:down

DO $$
BEGIN
  IF citus_has_workers() THEN
    -- Undistributing several tables in one transaction needs one connection a worker.
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    PERFORM undistribute_table('booking_shows');
    PERFORM undistribute_table('idempotency_keys');
    PERFORM undistribute_table('shows', cascade_via_foreign_keys => true);
    EXECUTE 'ALTER TABLE seats DROP CONSTRAINT seats_show_id_fkey';
    EXECUTE 'CREATE TRIGGER seats_check_show AFTER INSERT ON seats REFERENCING NEW TABLE AS inserted
      FOR EACH STATEMENT EXECUTE FUNCTION seats_check_show()';
    EXECUTE 'CREATE TRIGGER seats_refuse_show_change BEFORE UPDATE OF show_id ON seats FOR EACH ROW
      WHEN (NEW.show_id IS DISTINCT FROM OLD.show_id) EXECUTE FUNCTION seats_refuse_show_change()';
    EXECUTE 'CREATE TRIGGER shows_refuse_seated_delete BEFORE DELETE ON shows FOR EACH ROW
      EXECUTE FUNCTION shows_refuse_seated_removal()';
    EXECUTE 'CREATE TRIGGER shows_refuse_seated_renumbering BEFORE UPDATE OF id ON shows FOR EACH ROW
      WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION shows_refuse_seated_removal()';
  END IF;
END;
$$;
DROP FUNCTION distribute_by_show(regclass[]);
DROP FUNCTION citus_has_workers();
DROP TABLE booking_shows;
ALTER TABLE booking_seats DROP CONSTRAINT booking_seats_booking_id_show_id_fkey;
ALTER TABLE bookings DROP CONSTRAINT bookings_pkey;
ALTER TABLE bookings ADD PRIMARY KEY (id);
ALTER TABLE bookings ADD CONSTRAINT bookings_id_show_id_key UNIQUE (id, show_id);
ALTER TABLE booking_seats ADD FOREIGN KEY (booking_id, show_id) REFERENCES bookings (id, show_id);
