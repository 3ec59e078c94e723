-- migrate:up

-- Booking ids are drawn so that each one's hash falls in its show's shard range
-- (src/engine/booking-ids.ts). Co-located with shows, a booking's route then lives on its show's
-- node, and the hold's own transaction writes it there, in one phase.
DO $$
BEGIN
  IF citus_has_workers() THEN
    PERFORM alter_distributed_table('booking_shows', colocate_with => 'shows');
  END IF;
END;
$$;

-- migrate:down

DO $$
BEGIN
  IF citus_has_workers() THEN
    PERFORM alter_distributed_table('booking_shows', colocate_with => 'none');
  END IF;
END;
$$;
