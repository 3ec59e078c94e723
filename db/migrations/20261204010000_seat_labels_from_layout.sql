-- migrate:up

-- A seat's label is a function of its show's layout, which never changes: creating a show checks
-- from the layout that its labels are unique, and a hold by labels finds its seats by the seat
-- numbers the layout gives them (src/engine/seat-labels.ts). The unique index on (show_id, label)
-- served both, and was the costliest part of inserting a large show's seats, its entries arriving
-- in no order of theirs. Each statement is its own EXECUTE, as Citus needs for DDL on a
-- distributed table (see 20261203040000_distribute_by_show).
DO $$
BEGIN
  EXECUTE 'ALTER TABLE seats DROP CONSTRAINT seats_show_id_label_key';
END;
$$;

-- migrate:down

DO $$
BEGIN
  EXECUTE 'ALTER TABLE seats ADD CONSTRAINT seats_show_id_label_key UNIQUE (show_id, label)';
END;
$$;
