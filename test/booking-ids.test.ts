/**
 * Booking ids drawn in their show's shard range: the application's uuid_hash is the database's,
 * the ids are random version-4 UUIDs in the range asked for, and the ranges are the shards' of
 * `shows` on Citus, every hash on plain PostgreSQL.
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import { bookingIdIn, createShardRanges, everyHash, uuidBytes, uuidHash } from '../src/engine/booking-ids.ts'
import { isUuid } from '../src/engine/uuid.ts'
import { createShow, testApp } from './helpers/app.ts'
import { onCitus } from './helpers/database.ts'

t.test('uuidHash is PostgreSQL\'s uuid_hash', async (t) => {
  const { db } = await testApp(t)
  const ids = ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', ...Array.from({ length: 2000 }, () => randomUUID())]
  const { rows } = await sql<{ id: string, hash: number }>`SELECT u::text AS id, uuid_hash(u) AS hash FROM unnest(${ids}::uuid[]) AS u`.execute(db)
  t.equal(rows.length, ids.length)
  t.same(rows.filter((row) => uuidHash(uuidBytes(row.id)) !== row.hash), [], 'the same hash for every id')
})

t.test('a booking id is a random version-4 UUID whose hash is in the range asked for', async (t) => {
  const range = { min: 100_000_000, max: 100_000_000 + 2 ** 32 / 32 - 1 }
  const ids = Array.from({ length: 1000 }, () => bookingIdIn(range))
  t.equal(new Set(ids).size, ids.length, 'all different')
  t.same(ids.filter((id) => !isUuid(id) || id[14] !== '4' || !'89ab'.includes(id[19]!)), [], 'version 4, RFC 9562 variant')
  t.same(ids.filter((id) => { const hash = uuidHash(uuidBytes(id)); return hash < range.min || hash > range.max }), [], 'each in the range')
  t.ok(isUuid(bookingIdIn(everyHash)))
})

t.test('a show\'s range is its shard\'s on Citus, every hash on plain PostgreSQL', async (t) => {
  const { app, db } = await testApp(t)
  const show = await createShow(app, { total_seats: 10 })
  const range = await createShardRanges(db).of(show.id)
  if (!await onCitus()) {
    t.same(range, everyHash)
    return
  }
  const { rows: [shard] } = await sql<{ min: string, max: string }>`
    SELECT shardminvalue AS min, shardmaxvalue AS max FROM pg_dist_shard
    WHERE shardid = get_shard_id_for_distribution_column('shows', ${show.id}::uuid)`.execute(db)
  t.same(range, { min: Number(shard!.min), max: Number(shard!.max) })
  const id = bookingIdIn(range)
  const { rows: [placed] } = await sql<{ route: string, show: string }>`
    SELECT get_shard_id_for_distribution_column('booking_shows', ${id}::uuid) AS route,
           get_shard_id_for_distribution_column('booking_shows', ${show.id}::uuid) AS show`.execute(db)
  t.equal(placed!.route, placed!.show, 'a booking id drawn in it puts the route in the shard co-located with the show\'s')
})
