-- migrate:up

-- An Idempotency-Key is scoped to its show: the same key on two shows is two requests. The key
-- table is keyed by (show_id, key), which is also what a database distributed by show needs.
-- A record that names no show cannot be kept: a refusal, or a claim not settled yet. Its key is
-- then new again, so a retry of a refused request is decided anew.
ALTER TABLE idempotency_keys ADD COLUMN show_id uuid;
UPDATE idempotency_keys SET show_id = (outcome -> 'booking' ->> 'show_id')::uuid WHERE outcome ? 'booking';
DELETE FROM idempotency_keys WHERE show_id IS NULL;
ALTER TABLE idempotency_keys
  ALTER COLUMN show_id SET NOT NULL,
  DROP CONSTRAINT idempotency_keys_pkey,
  ADD PRIMARY KEY (show_id, key);

-- migrate:down

-- One record a key: where shows share a key, the newest record stays.
DELETE FROM idempotency_keys older USING idempotency_keys newer
  WHERE older.key = newer.key AND (older.created_at, older.show_id) < (newer.created_at, newer.show_id);
ALTER TABLE idempotency_keys
  DROP CONSTRAINT idempotency_keys_pkey,
  ADD PRIMARY KEY (key),
  DROP COLUMN show_id;
