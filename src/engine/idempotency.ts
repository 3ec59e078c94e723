import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import type { Booking } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import type { Json } from '../db/types.ts'
import { jsonArray, jsonRows } from '../db/json-rows.ts'
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
 * A transaction deciding a key holds this advisory lock on it until it ends, so that a batch
 * skips the key instead of waiting for that transaction (with every other hold of its show).
 */
const keyLock = (showId: string, key: unknown) => sql<bigint>`hashtextextended(${showId}::text || ' ' || ${key}, 0)`

/**
 * Claims each key for its request, in one statement: a new key, one whose 24 hours are over, or
 * one whose first request died without an answer (same body only). Returns the keys claimed; the
 * others are someone else's, and none when the show does not exist. A key given twice is claimed
 * for its first request only. Keys are claimed in key order, so that two statements claiming the
 * same keys cannot deadlock. The show id comes from the show's row and the clock is read in the
 * rows inserted, not in the conflict clause, so that on a database distributed by show the claim
 * runs on the show's node alone (see lockFreeKeys for the advisory locks).
 *
 * With `skipBusy`, inside a transaction, a key that another transaction is deciding is not
 * claimed rather than waited for; each key tried stays locked (see keyLock) until this
 * transaction ends.
 */
export async function claimKeys (db: Database, showId: string, requests: Array<Omit<KeyedRequest, 'showId'>>, { skipBusy = false } = {}): Promise<Set<string>> {
  const byKey = new Map<string, string>()
  for (const { key, hash } of requests) if (!byKey.has(key)) byKey.set(key, hash)
  let rows = [...byKey].map(([key, hash]) => ({ key, hash }))
  if (skipBusy) {
    const free = await lockFreeKeys(db, showId, rows.map((row) => row.key))
    rows = rows.filter((row) => free.has(row.key))
    if (rows.length === 0) return new Set()
  }
  const claimed = await db.insertInto('idempotency_keys')
    .columns(['show_id', 'key', 'request_hash', 'created_at', 'locked_until'])
    .expression((eb) => eb.selectFrom(['shows', jsonRows(rows, { key: 'text', hash: 'text' })])
      .where('shows.id', '=', showId)
      .select([
        'shows.id as show_id', 'h.key', 'h.hash', sql<Date>`now()`.as('created_at'),
        sql<Date>`now() + make_interval(secs => ${leaseSeconds})`.as('locked_until')
      ])
      .orderBy('h.key'))
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
 * Takes the advisory lock of each key that no other transaction holds (see keyLock), until this
 * transaction ends; answers those keys. A statement of its own, through the show's row, so that on
 * a database distributed by show it runs on the show's node: a volatile function in the claim's
 * INSERT ... SELECT would make Citus run the claim through the coordinator instead.
 */
async function lockFreeKeys (db: Database, showId: string, keys: string[]): Promise<Set<string>> {
  const rows = await db.selectFrom(['shows', jsonRows(keys.map((key) => ({ key })), { key: 'text' })])
    .select('h.key')
    .where('shows.id', '=', showId)
    .where((eb) => eb.fn<boolean>('pg_try_advisory_xact_lock', [keyLock(showId, eb.ref('h.key'))]))
    .orderBy('h.key')
    .execute()
  return new Set(rows.map((row) => row.key))
}

/** A claimed key with what its request decided. */
export interface DecidedKey {
  key: string
  outcome: Outcome
}

/**
 * Settles claimed keys with what their requests decided. Run it in the transaction that made the
 * decision, so that a hold exists exactly when its key records it.
 */
export function recordOutcomes (db: Database, showId: string, decided: DecidedKey[]) {
  return db.updateTable('idempotency_keys')
    .from(jsonRows(decided, { key: 'text', outcome: 'jsonb' }))
    // The outcome column is jsonb, read from the JSON as jsonb.
    .set((eb) => ({ outcome: eb.ref('h.outcome').$castTo<Json>(), locked_until: null }))
    .where('idempotency_keys.show_id', '=', showId)
    .where('idempotency_keys.key', '=', (eb) => eb.fn.any(jsonArray(decided.map((row) => row.key), 'text')))
    .whereRef('idempotency_keys.key', '=', 'h.key')
}

/**
 * Runs `operation` for a key this request has claimed, in a transaction that stores its booking or
 * refusal with the hold itself, so a hold exists exactly when its key records it, and a retry
 * gets the first answer again.
 */
export async function decideOnce (db: Database, { showId, key }: Omit<KeyedRequest, 'hash'>, operation: (trx: Database) => Promise<Booking>): Promise<Booking> {
  try {
    const outcome = await db.transaction().execute(async (trx) => {
      // Taken through the show's row, so that on a database distributed by show it is on the show's
      // node, where claimKeys tries it.
      await trx.selectFrom('shows').select(() => sql`pg_advisory_xact_lock(${keyLock(showId, key)})`.as('locked'))
        .where('shows.id', '=', showId).execute()
      let result: Outcome
      try {
        result = { booking: await operation(trx) }
      } catch (error) {
        if (!(error instanceof EngineError)) throw error
        result = { error: { code: error.code, message: error.message, details: error.details } }
      }
      await recordOutcomes(trx, showId, [{ key, outcome: result }]).execute()
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
