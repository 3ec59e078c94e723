-- migrate:up

-- Seats must name an existing show. The foreign key checked that row by row: 100,000 index
-- lookups and row locks of the same show for the largest one, about a third of the time it takes
-- to create it, against the contract's second. Seats are written only by the statement that
-- creates their show, so one check per statement, on the shows it names, does the same work. The
-- three triggers below keep what the foreign key kept: no seat without its show, no show removed
-- or renumbered under its seats, no seat moved to another show.

CREATE FUNCTION seats_check_show() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  missing uuid;
BEGIN
  -- Locked as the foreign key locks them, so that none can be deleted or get another id until
  -- this transaction ends; a show deleted before the lock is then absent from the check below.
  PERFORM FROM shows WHERE id IN (SELECT DISTINCT show_id FROM inserted) FOR KEY SHARE;
  SELECT show_id INTO missing FROM (SELECT DISTINCT show_id FROM inserted) AS named
  WHERE NOT EXISTS (SELECT FROM shows WHERE shows.id = named.show_id)
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'insert on table "seats" names show %, which does not exist', missing
      USING ERRCODE = 'foreign_key_violation', TABLE = 'seats', COLUMN = 'show_id';
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER seats_check_show
  AFTER INSERT ON seats
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT
  EXECUTE FUNCTION seats_check_show();

CREATE FUNCTION seats_refuse_show_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'seat % of show % cannot move to another show', OLD.label, OLD.show_id
    USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER seats_refuse_show_change
  BEFORE UPDATE OF show_id ON seats
  FOR EACH ROW
  WHEN (NEW.show_id IS DISTINCT FROM OLD.show_id)
  EXECUTE FUNCTION seats_refuse_show_change();

-- A statement's seats lock their show FOR KEY SHARE before they commit, so this waits for them and
-- then, under READ COMMITTED (the only level the service uses), sees them.
CREATE FUNCTION shows_refuse_seated_removal() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT FROM seats WHERE show_id = OLD.id) THEN
    RAISE EXCEPTION 'show % still has seats', OLD.id
      USING ERRCODE = 'foreign_key_violation', TABLE = 'shows';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER shows_refuse_seated_delete
  BEFORE DELETE ON shows
  FOR EACH ROW
  EXECUTE FUNCTION shows_refuse_seated_removal();

CREATE TRIGGER shows_refuse_seated_renumbering
  BEFORE UPDATE OF id ON shows
  FOR EACH ROW
  WHEN (NEW.id IS DISTINCT FROM OLD.id)
  EXECUTE FUNCTION shows_refuse_seated_removal();

ALTER TABLE seats DROP CONSTRAINT seats_show_id_fkey;

-- migrate:down

ALTER TABLE seats ADD CONSTRAINT seats_show_id_fkey FOREIGN KEY (show_id) REFERENCES shows (id);
DROP TRIGGER shows_refuse_seated_renumbering ON shows;
DROP TRIGGER shows_refuse_seated_delete ON shows;
DROP FUNCTION shows_refuse_seated_removal();
DROP TRIGGER seats_refuse_show_change ON seats;
DROP FUNCTION seats_refuse_show_change();
DROP TRIGGER seats_check_show ON seats;
DROP FUNCTION seats_check_show();
