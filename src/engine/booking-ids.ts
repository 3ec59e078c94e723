import { randomFillSync } from 'node:crypto'
import { sql } from 'kysely'
import type { Database } from '../db/database.ts'

/**
 * Booking ids that lead to their show's node. On Citus, `booking_shows` (booking id → show) is
 * distributed by the booking's id and co-located with `shows`: a row lives in the shard whose hash
 * range holds the hash of its distribution column. A booking id drawn so that its hash falls in
 * its show's shard range puts the booking's route on the show's node, where the hold's transaction
 * writes it in one phase. On plain PostgreSQL every id qualifies.
 */

/** A range of PostgreSQL's 32-bit hash values, both ends included, as Citus gives each shard. */
export interface HashRange { min: number, max: number }

export const everyHash: HashRange = { min: -(2 ** 31), max: 2 ** 31 - 1 }

const rotate = (x: number, k: number): number => (x << k) | (x >>> (32 - k))

/**
 * PostgreSQL's uuid_hash, the hash Citus places a uuid by: hash_bytes (Bob Jenkins' lookup3, as in
 * PostgreSQL's src/common/hashfn.c) over the uuid's 16 bytes, as a signed 32-bit integer. The bytes
 * are read from `at` as four little-endian words, as hash_bytes reads them on x86 and ARM.
 */
export function uuidHash (bytes: Buffer, at = 0): number {
  let a = (0x9e3779b9 + 16 + 3923095) | 0
  let b = (a + bytes.readInt32LE(at + 4)) | 0
  let c = (a + bytes.readInt32LE(at + 8)) | 0
  a = (a + bytes.readInt32LE(at)) | 0
  // mix(a, b, c)
  a = (a - c) | 0; a ^= rotate(c, 4); c = (c + b) | 0
  b = (b - a) | 0; b ^= rotate(a, 6); a = (a + c) | 0
  c = (c - b) | 0; c ^= rotate(b, 8); b = (b + a) | 0
  a = (a - c) | 0; a ^= rotate(c, 16); c = (c + b) | 0
  b = (b - a) | 0; b ^= rotate(a, 19); a = (a + c) | 0
  c = (c - b) | 0; c ^= rotate(b, 4); b = (b + a) | 0
  // The last 4 bytes, then final(a, b, c).
  a = (a + bytes.readInt32LE(at + 12)) | 0
  c ^= b; c = (c - rotate(b, 14)) | 0
  a ^= c; a = (a - rotate(c, 11)) | 0
  b ^= a; b = (b - rotate(a, 25)) | 0
  c ^= b; c = (c - rotate(b, 16)) | 0
  a ^= c; a = (a - rotate(c, 4)) | 0
  b ^= a; b = (b - rotate(a, 14)) | 0
  c ^= b; c = (c - rotate(b, 24)) | 0
  return c
}

export const uuidBytes = (uuid: string): Buffer => Buffer.from(uuid.replaceAll('-', ''), 'hex')

const random = Buffer.alloc(16 * 256)
let used = random.length

/**
 * A random (version 4) uuid whose hash is in `range`. With Citus's default 32 shards, one random
 * uuid in 32 qualifies: the id keeps 117 random bits.
 */
export function bookingIdIn (range: HashRange): string {
  for (;;) {
    if (used === random.length) {
      randomFillSync(random)
      used = 0
    }
    const at = used
    used += 16
    random[at + 6] = (random[at + 6]! & 0x0f) | 0x40
    random[at + 8] = (random[at + 8]! & 0x3f) | 0x80
    const hash = uuidHash(random, at)
    if (hash >= range.min && hash <= range.max) {
      const hex = random.toString('hex', at, at + 16)
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
    }
  }
}

/** How long the shard ranges are kept: a shard split changes them (and until then ids land on another node, still correct). */
const rangesKeptMs = 60_000

/**
 * The hash range of each show's shard, read from Citus's metadata on the coordinator and kept for a
 * minute; every hash on plain PostgreSQL (or before `shows` is distributed).
 */
export function createShardRanges (db: Database) {
  let loading: { at: number, ranges: Promise<HashRange[]> } | undefined

  async function load (): Promise<HashRange[]> {
    const { rows: [citus] } = await sql<{ present: boolean }>`SELECT to_regclass('pg_catalog.pg_dist_shard') IS NOT NULL AS present`.execute(db)
    if (citus?.present !== true) return []
    const { rows } = await sql<{ min: string, max: string }>`
      SELECT shardminvalue AS min, shardmaxvalue AS max FROM pg_catalog.pg_dist_shard WHERE logicalrelid = 'shows'::regclass`.execute(db)
    return rows.map((row) => ({ min: Number(row.min), max: Number(row.max) }))
  }

  return {
    /** The hash range of the shard that holds show `showId`. */
    async of (showId: string): Promise<HashRange> {
      if (loading === undefined || Date.now() - loading.at > rangesKeptMs) {
        const ranges = load()
        loading = { at: Date.now(), ranges }
        // A failed read is tried again by the next hold.
        ranges.catch(() => { if (loading?.ranges === ranges) loading = undefined })
      }
      const hash = uuidHash(uuidBytes(showId))
      return (await loading.ranges).find((range) => hash >= range.min && hash <= range.max) ?? everyHash
    }
  }
}
