\restrict dbmate


SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: citus_has_workers(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.citus_has_workers() RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
    RETURN false;
  END IF;
  RETURN (SELECT count(*) > 0 FROM pg_catalog.pg_dist_node WHERE groupid <> 0 AND noderole = 'primary' AND isactive);
END;
$$;


--
-- Name: distribute_by_show(regclass[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.distribute_by_show(tables regclass[]) RETURNS void
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: seats_check_show(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.seats_check_show() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: seats_refuse_live_takeover(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.seats_refuse_live_takeover() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  RAISE EXCEPTION 'seat % of show % belongs to live booking %', OLD.label, OLD.show_id, OLD.booking_id
    USING ERRCODE = 'integrity_constraint_violation';
END;
$$;


--
-- Name: seats_refuse_show_change(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.seats_refuse_show_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  RAISE EXCEPTION 'seat % of show % cannot move to another show', OLD.label, OLD.show_id
    USING ERRCODE = 'integrity_constraint_violation';
END;
$$;


--
-- Name: shows_refuse_seated_removal(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.shows_refuse_seated_removal() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: admissions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.admissions (
    show_id uuid NOT NULL,
    seq bigint NOT NULL,
    booking_id uuid,
    held_until timestamp(3) with time zone,
    CONSTRAINT admissions_check CHECK (((booking_id IS NULL) = (held_until IS NULL))),
    CONSTRAINT admissions_seq_check CHECK ((seq >= 1))
);


--
-- Name: booking_seats; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.booking_seats (
    booking_id uuid NOT NULL,
    show_id uuid NOT NULL,
    seat_no integer NOT NULL
)
WITH (autovacuum_vacuum_insert_scale_factor='0.05', autovacuum_vacuum_cost_delay='0');


--
-- Name: booking_shows; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.booking_shows (
    booking_id uuid NOT NULL,
    show_id uuid NOT NULL
);


--
-- Name: bookings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.bookings (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    show_id uuid NOT NULL,
    status text DEFAULT 'PENDING'::text NOT NULL,
    quantity integer NOT NULL,
    hold_expires_at timestamp(3) with time zone NOT NULL,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    confirmed_at timestamp(3) with time zone,
    cancelled_at timestamp(3) with time zone,
    expired_at timestamp(3) with time zone,
    CONSTRAINT bookings_check CHECK ((hold_expires_at > created_at)),
    CONSTRAINT bookings_check1 CHECK (((confirmed_at IS NULL) OR (confirmed_at <= hold_expires_at))),
    CONSTRAINT bookings_check2 CHECK (((status <> 'CONFIRMED'::text) OR (confirmed_at IS NOT NULL))),
    CONSTRAINT bookings_check3 CHECK (((status <> 'CANCELLED'::text) OR (cancelled_at IS NOT NULL))),
    CONSTRAINT bookings_check4 CHECK (((status <> 'EXPIRED'::text) OR ((expired_at IS NOT NULL) AND (confirmed_at IS NULL) AND (cancelled_at IS NULL)))),
    CONSTRAINT bookings_check5 CHECK (((status <> 'PENDING'::text) OR ((confirmed_at IS NULL) AND (cancelled_at IS NULL) AND (expired_at IS NULL)))),
    CONSTRAINT bookings_quantity_check CHECK ((quantity > 0)),
    CONSTRAINT bookings_status_check CHECK ((status = ANY (ARRAY['PENDING'::text, 'CONFIRMED'::text, 'EXPIRED'::text, 'CANCELLED'::text])))
)
WITH (autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_threshold='1000', autovacuum_analyze_scale_factor='0.02', autovacuum_vacuum_cost_delay='0');


--
-- Name: idempotency_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.idempotency_keys (
    key text NOT NULL,
    request_hash text NOT NULL,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    locked_until timestamp(3) with time zone,
    outcome jsonb,
    show_id uuid NOT NULL,
    CONSTRAINT idempotency_keys_check CHECK (((outcome IS NULL) = (locked_until IS NOT NULL))),
    CONSTRAINT idempotency_keys_key_check CHECK ((key ~ '^[\x21-\x7e]{1,255}$'::text))
)
WITH (autovacuum_vacuum_scale_factor='0.02', autovacuum_vacuum_threshold='1000', autovacuum_vacuum_cost_delay='0');


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version character varying NOT NULL
);


--
-- Name: seats; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.seats (
    show_id uuid NOT NULL,
    seat_no integer NOT NULL,
    label text NOT NULL COLLATE pg_catalog."C",
    row_label text,
    number integer NOT NULL,
    booking_id uuid,
    hold_expires_at timestamp(3) with time zone,
    CONSTRAINT seats_check CHECK (((booking_id IS NOT NULL) OR (hold_expires_at IS NULL))),
    CONSTRAINT seats_label_check CHECK ((label ~ '^[A-Z0-9]{1,8}$'::text)),
    CONSTRAINT seats_number_check CHECK ((number > 0)),
    CONSTRAINT seats_row_label_check CHECK ((row_label ~ '^[A-Z0-9]{1,4}$'::text)),
    CONSTRAINT seats_seat_no_check CHECK ((seat_no > 0))
)
WITH (autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_threshold='1000', autovacuum_analyze_scale_factor='0.02', autovacuum_vacuum_cost_delay='0');
ALTER TABLE ONLY public.seats ALTER COLUMN show_id SET STATISTICS 0;
ALTER TABLE ONLY public.seats ALTER COLUMN booking_id SET STATISTICS 10;
ALTER TABLE ONLY public.seats ALTER COLUMN hold_expires_at SET STATISTICS 10;


--
-- Name: shows; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.shows (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    start_time timestamp(3) with time zone NOT NULL,
    layout text NOT NULL,
    total_seats integer NOT NULL,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    row_labels text[],
    row_seats integer[],
    focal_row text,
    focal_seat integer,
    sales_open_at timestamp(3) with time zone,
    CONSTRAINT shows_focal_row_check CHECK (((focal_row IS NULL) OR (focal_row = ANY (row_labels)))),
    CONSTRAINT shows_focal_seat_check CHECK ((focal_seat > 0)),
    CONSTRAINT shows_layout_check CHECK ((layout = ANY (ARRAY['numbered'::text, 'rows'::text]))),
    CONSTRAINT shows_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 200))),
    CONSTRAINT shows_rows_check CHECK ((((layout = 'rows'::text) = (row_labels IS NOT NULL)) AND ((row_labels IS NULL) = (row_seats IS NULL)) AND (cardinality(row_labels) = cardinality(row_seats)))),
    CONSTRAINT shows_sales_open_before_start CHECK ((sales_open_at < start_time)),
    CONSTRAINT shows_total_seats_check CHECK ((total_seats > 0))
);


--
-- Name: waiting_room_rates; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.waiting_room_rates (
    show_id uuid NOT NULL,
    setting integer NOT NULL,
    since timestamp with time zone NOT NULL,
    admit_per_minute integer,
    admitted_before double precision NOT NULL,
    CONSTRAINT waiting_room_rates_admit_per_minute_check CHECK (((admit_per_minute >= 1) AND (admit_per_minute <= 1000000))),
    CONSTRAINT waiting_room_rates_admitted_before_check CHECK ((admitted_before >= (0)::double precision)),
    CONSTRAINT waiting_room_rates_setting_check CHECK ((setting >= 1))
);


--
-- Name: waiting_rooms; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.waiting_rooms (
    show_id uuid NOT NULL,
    shuffle_seed bytea NOT NULL,
    joined bigint DEFAULT 0 NOT NULL,
    joined_before_opening bigint DEFAULT 0 NOT NULL,
    CONSTRAINT waiting_rooms_check CHECK (((joined_before_opening >= 0) AND (joined_before_opening <= joined))),
    CONSTRAINT waiting_rooms_joined_check CHECK ((joined >= 0)),
    CONSTRAINT waiting_rooms_shuffle_seed_check CHECK ((octet_length(shuffle_seed) = 32))
);


--
-- Name: admissions admissions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.admissions
    ADD CONSTRAINT admissions_pkey PRIMARY KEY (show_id, seq);


--
-- Name: booking_seats booking_seats_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.booking_seats
    ADD CONSTRAINT booking_seats_pkey PRIMARY KEY (booking_id, show_id, seat_no);


--
-- Name: booking_shows booking_shows_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.booking_shows
    ADD CONSTRAINT booking_shows_pkey PRIMARY KEY (booking_id);


--
-- Name: bookings bookings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.bookings
    ADD CONSTRAINT bookings_pkey PRIMARY KEY (id, show_id);


--
-- Name: idempotency_keys idempotency_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (show_id, key);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: seats seats_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seats
    ADD CONSTRAINT seats_pkey PRIMARY KEY (show_id, seat_no);


--
-- Name: shows shows_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.shows
    ADD CONSTRAINT shows_pkey PRIMARY KEY (id);


--
-- Name: waiting_room_rates waiting_room_rates_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.waiting_room_rates
    ADD CONSTRAINT waiting_room_rates_pkey PRIMARY KEY (show_id, setting);


--
-- Name: waiting_rooms waiting_rooms_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.waiting_rooms
    ADD CONSTRAINT waiting_rooms_pkey PRIMARY KEY (show_id);


--
-- Name: bookings_pending_expiry_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX bookings_pending_expiry_idx ON public.bookings USING btree (hold_expires_at) WHERE (status = 'PENDING'::text);


--
-- Name: bookings_show_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX bookings_show_created_idx ON public.bookings USING btree (show_id, created_at, id);


--
-- Name: idempotency_keys_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idempotency_keys_created_at_idx ON public.idempotency_keys USING btree (created_at);


--
-- Name: seats_booked_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX seats_booked_idx ON public.seats USING btree (show_id) WHERE ((booking_id IS NOT NULL) AND (hold_expires_at IS NULL));


--
-- Name: seats_free_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX seats_free_idx ON public.seats USING btree (show_id, ((seat_no + 0))) WHERE (booking_id IS NULL);


--
-- Name: seats_held_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX seats_held_idx ON public.seats USING btree (show_id, hold_expires_at, seat_no) WHERE (hold_expires_at IS NOT NULL);


--
-- Name: shows_start_time_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX shows_start_time_id_idx ON public.shows USING btree (start_time, id);


--
-- Name: seats seats_check_show; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER seats_check_show AFTER INSERT ON public.seats REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION public.seats_check_show();


--
-- Name: seats seats_refuse_live_takeover; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER seats_refuse_live_takeover BEFORE UPDATE OF booking_id ON public.seats FOR EACH ROW WHEN (((old.booking_id IS NOT NULL) AND (new.booking_id IS NOT NULL) AND (new.booking_id <> old.booking_id) AND ((old.hold_expires_at IS NULL) OR (old.hold_expires_at > clock_timestamp())))) EXECUTE FUNCTION public.seats_refuse_live_takeover();


--
-- Name: seats seats_refuse_show_change; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER seats_refuse_show_change BEFORE UPDATE OF show_id ON public.seats FOR EACH ROW WHEN ((new.show_id IS DISTINCT FROM old.show_id)) EXECUTE FUNCTION public.seats_refuse_show_change();


--
-- Name: shows shows_refuse_seated_delete; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER shows_refuse_seated_delete BEFORE DELETE ON public.shows FOR EACH ROW EXECUTE FUNCTION public.shows_refuse_seated_removal();


--
-- Name: shows shows_refuse_seated_renumbering; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER shows_refuse_seated_renumbering BEFORE UPDATE OF id ON public.shows FOR EACH ROW WHEN ((new.id IS DISTINCT FROM old.id)) EXECUTE FUNCTION public.shows_refuse_seated_removal();


--
-- Name: admissions admissions_show_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.admissions
    ADD CONSTRAINT admissions_show_id_fkey FOREIGN KEY (show_id) REFERENCES public.waiting_rooms(show_id);


--
-- Name: booking_seats booking_seats_booking_id_show_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.booking_seats
    ADD CONSTRAINT booking_seats_booking_id_show_id_fkey FOREIGN KEY (booking_id, show_id) REFERENCES public.bookings(id, show_id);


--
-- Name: booking_seats booking_seats_show_id_seat_no_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.booking_seats
    ADD CONSTRAINT booking_seats_show_id_seat_no_fkey FOREIGN KEY (show_id, seat_no) REFERENCES public.seats(show_id, seat_no);


--
-- Name: bookings bookings_show_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.bookings
    ADD CONSTRAINT bookings_show_id_fkey FOREIGN KEY (show_id) REFERENCES public.shows(id);


--
-- Name: seats seats_holder_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seats
    ADD CONSTRAINT seats_holder_fkey FOREIGN KEY (booking_id, show_id, seat_no) REFERENCES public.booking_seats(booking_id, show_id, seat_no);


--
-- Name: waiting_room_rates waiting_room_rates_show_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.waiting_room_rates
    ADD CONSTRAINT waiting_room_rates_show_id_fkey FOREIGN KEY (show_id) REFERENCES public.waiting_rooms(show_id);


--
-- Name: waiting_rooms waiting_rooms_show_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.waiting_rooms
    ADD CONSTRAINT waiting_rooms_show_id_fkey FOREIGN KEY (show_id) REFERENCES public.shows(id);


--
-- PostgreSQL database dump complete
--

\unrestrict dbmate


--
-- Dbmate schema migrations
--

INSERT INTO public.schema_migrations (version) VALUES
    ('20261125000000'),
    ('20261126000000'),
    ('20261201000000'),
    ('20261202000000'),
    ('20261202100000'),
    ('20261203020000'),
    ('20261203030000'),
    ('20261203040000'),
    ('20261204010000'),
    ('20261204030000');
