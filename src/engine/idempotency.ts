import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import type { Booking } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import type { Json } from '../db/types.ts'
import { jsonRows } from '../db/json-rows.ts'
import { EngineError, type EngineErrorCode, type EngineErrorDetails } from './errors.ts'
import { getShow } from './shows.ts'

/** What the first request with a key decided, replayed to every retry. */
export type Outcome =
  | { booking: Booking }
  | { error: { code: EngineErrorCode, message: string, details: EngineErrorDetails } }

/** How long a request may run on a key before a retry may take the key over (its process died). */
const leaseSeconds = 30

/** A stable digest of a request body: the same fields and values give the same hash whatever their order. */
export function requestHash (body: unknown): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical)
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical((value as Record<string, unknown>)[key])]))
    }
    return value
  }
  return createHash('sha256').update(JSON.stringify(canonical(body))).digest('hex')
}

function replay (outcome: Outcome): Booking {
  if ('booking' in outcome) return outcome.booking
  throw new EngineError(outcome.error.code, outcome.error.message, outcome.error.details)
}

/** A request that carries an Idempotency-Key, by the hash of its body. Keys are scoped to their show. */
export interface KeyedRequest {
  showId: string
  key: string
  hash: string
}

/**
 * A transaction deciding a key alone (decideOnce) holds this advisory lock on it until it ends, so
 * that two of them never decide one key at once.
 */
const keyLock = (showId: string, key: unknown) => sql<bigint>`hashtextextended(${showId}::text || ' ' || ${key}, 0)`

/** Each key's first request. */
function firstRequests (requests: Array<Omit<KeyedRequest, 'showId'>>) {
  const byKey = new Map<string, string>()
  for (const { key, hash } of requests) if (!byKey.has(key)) byKey.set(key, hash)
  return [...byKey].map(([key, hash]) => ({ key, hash }))
}

/**
 * A new record for each key, claimed for its request (no outcome, leased): an INSERT ... SELECT
 * through the show's row, so that it inserts nothing when the show does not exist and, on a
 * database distributed by show, runs on the show's node alone. The clock is read in the rows
 * inserted, not in a conflict clause, for the same reason. Keys go in key order, so that two
 * statements claiming the same keys cannot deadlock.
 */
function insertClaims (db: Database, showId: string, requests: Array<Omit<KeyedRequest, 'showId'>>) {
  return db.insertInto('idempotency_keys')
    .columns(['show_id', 'key', 'request_hash', 'created_at', 'locked_until'])
    .expression((eb) => eb.selectFrom(['shows', jsonRows(firstRequests(requests), { key: 'text', hash: 'text' })])
      .where('shows.id', '=', showId)
      .select([
        'shows.id as show_id', 'h.key', 'h.hash', sql<Date>`now()`.as('created_at'),
        sql<Date>`now() + make_interval(secs => ${leaseSeconds})`.as('locked_until')
      ])
      .orderBy('h.key'))
}

/**
 * Claims each key for its request, in one statement: a new key, one whose 24 hours are over, or
 * one whose first request died without an answer (same body only). Returns the keys claimed; the
 * others are someone else's, and none when the show does not exist. A key given twice is claimed
 * for its first request only. It waits for a transaction that has the key's record locked.
 */
export async function claimKeys (db: Database, showId: string, requests: Array<Omit<KeyedRequest, 'showId'>>): Promise<Set<string>> {
  const claimed = await insertClaims(db, showId, requests)
    .onConflict((oc) => oc.columns(['show_id', 'key']).doUpdateSet((eb) => ({
      request_hash: eb.ref('excluded.request_hash'),
      created_at: eb.ref('excluded.created_at'),
      locked_until: eb.ref('excluded.locked_until'),
      // A literal, not a parameter: Citus sends a NULL parameter here to the worker untyped.
      outcome: sql<null>`NULL`
    })).where((eb) => eb.or([
      // A difference of two times, not a time minus an interval: Citus takes only immutable
      // functions in a conflict clause, and the latter depends on the time zone.
      sql<boolean>`excluded.created_at - idempotency_keys.created_at >= interval '24 hours'`,
      eb.and([
        eb('idempotency_keys.outcome', 'is', null),
        eb('idempotency_keys.locked_until', '<=', eb.ref('excluded.created_at')),
        eb('idempotency_keys.request_hash', '=', eb.ref('excluded.request_hash'))
      ])
    ])))
    .returning('key')
    .execute()
  return new Set(claimed.map((row) => row.key))
}

/**
 * Claims the keys that have no record yet, in one statement, for a batch's transaction: a key
 * that has one (a retry, a key being decided elsewhere, a record to take over) is left to its
 * request's own claim (claimKeys), which may wait for it; this one takes no lock on an existing
 * record, so a batch never waits for a transaction deciding one of its keys. It waits only for a
 * transaction that is writing the same key's record at that moment: another batch inserting it,
 * or a request recording its outcome just before it commits.
 */
export async function claimNewKeys (db: Database, showId: string, requests: Array<Omit<KeyedRequest, 'showId'>>): Promise<Set<string>> {
  const claimed = await insertClaims(db, showId, requests)
    .onConflict((oc) => oc.columns(['show_id', 'key']).doNothing())
    .returning('key')
    .execute()
  return new Set(claimed.map((row) => row.key))
}

/** A claimed key with what its request decided. */
export interface DecidedKey extends Omit<KeyedRequest, 'showId'> {
  outcome: Outcome
}

/**
 * Settles claimed keys with what their requests decided. Run it in the transaction that made the
 * decision, so that a hold exists exactly when its key records it. An upsert, not an UPDATE joined
 * to the keys: the conflict check finds each key through the primary key whatever the table's
 * statistics say, where a join's plan made while the table looked empty (a fresh database, kept
 * for the connection's life) read every key of the show on every batch. The keys were claimed in
 * this transaction, so each meets its own row; the insert's values are that claim's, should it not.
 */
export function recordOutcomes (db: Database, showId: string, decided: DecidedKey[]) {
  return db.insertInto('idempotency_keys')
    .columns(['show_id', 'key', 'request_hash', 'created_at', 'outcome'])
    .expression((eb) => eb.selectFrom(['shows', jsonRows(decided, { key: 'text', hash: 'text', outcome: 'jsonb' })])
      .where('shows.id', '=', showId)
      // The outcome column is jsonb, read from the JSON as jsonb.
      .select((eb) => ['shows.id as show_id', 'h.key', 'h.hash', sql<Date>`now()`.as('created_at'), eb.ref('h.outcome').$castTo<Json>().as('outcome')]))
    .onConflict((oc) => oc.columns(['show_id', 'key']).doUpdateSet((eb) => ({
      outcome: eb.ref('excluded.outcome'),
      // A literal, not a parameter (see claimKeys).
      locked_until: sql<null>`NULL`
    })))
}

/**
 * Runs `operation` for a key this request has claimed, in a transaction that stores its booking or
 * refusal with the hold itself, so a hold exists exactly when its key records it, and a retry
 * gets the first answer again.
 */
export async function decideOnce (db: Database, { showId, key, hash }: KeyedRequest, operation: (trx: Database) => Promise<Booking>): Promise<Booking> {
  try {
    const outcome = await db.transaction().execute(async (trx) => {
      // Taken through the show's row, so that on a database distributed by show it is on the show's node.
      await trx.selectFrom('shows').select(() => sql`pg_advisory_xact_lock(${keyLock(showId, key)})`.as('locked'))
        .where('shows.id', '=', showId).execute()
      let result: Outcome
      try {
        result = { booking: await operation(trx) }
      } catch (error) {
        if (!(error instanceof EngineError)) throw error
        result = { error: { code: error.code, message: error.message, details: error.details } }
      }
      await recordOutcomes(trx, showId, [{ key, hash, outcome: result }]).execute()
      return result
    })
    return replay(outcome)
  } catch (error) {
    // Nothing was decided (the database failed us): free the key so that a retry runs anew.
    await db.deleteFrom('idempotency_keys').where('show_id', '=', showId).where('key', '=', key).where('outcome', 'is', null)
      .execute().catch(() => {})
    throw error
  }
}

/** Runs `operation` at most once per key and body (see decideOnce), or answers as the key's first request did. */
export async function runOnce (
  db: Database,
  request: KeyedRequest,
  operation: (trx: Database) => Promise<Booking>
): Promise<Booking> {
  const { showId, key, hash } = request
  if ((await claimKeys(db, showId, [request])).has(key)) return await decideOnce(db, request, operation)
  const existing = await db.selectFrom('idempotency_keys').select(['request_hash', 'outcome'])
    .where('show_id', '=', showId).where('key', '=', key).executeTakeFirst()
  // No record: the show does not exist (no key is claimed then), or the key was freed since.
  if (existing === undefined) {
    await getShow(db, showId)
    return await runOnce(db, request, operation)
  }
  if (existing.request_hash !== hash) {
    throw new EngineError('idempotency_key_reused', 'This Idempotency-Key was used with another request body')
  }
  if (existing.outcome === null) {
    throw new EngineError('idempotency_key_in_use', 'A request with this Idempotency-Key is still running')
  }
  return replay(existing.outcome as Outcome)
}
