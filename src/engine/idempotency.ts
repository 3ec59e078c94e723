import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import type { Booking } from '../../api/index.ts'
import type { Database } from '../db/database.ts'
import { EngineError, type EngineErrorCode, type EngineErrorDetails } from './errors.ts'

/** What the first request with a key decided, replayed to every retry. */
type Outcome =
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

/**
 * Claims `key` for this request: a new key, one whose 24 hours are over, or one whose first
 * request died without an answer (same body only). Returns false when someone else has it.
 */
async function claim (db: Database, key: string, hash: string): Promise<boolean> {
  const claimed = await db.insertInto('idempotency_keys')
    .values({ key, request_hash: hash, locked_until: sql<Date>`now() + make_interval(secs => ${leaseSeconds})` })
    .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({
      request_hash: eb.ref('excluded.request_hash'),
      created_at: sql<Date>`now()`,
      locked_until: eb.ref('excluded.locked_until'),
      outcome: null
    })).where((eb) => eb.or([
      eb('idempotency_keys.created_at', '<=', sql<Date>`now() - interval '24 hours'`),
      eb.and([
        eb('idempotency_keys.outcome', 'is', null),
        eb('idempotency_keys.locked_until', '<=', sql<Date>`now()`),
        eb('idempotency_keys.request_hash', '=', eb.ref('excluded.request_hash'))
      ])
    ])))
    .returning('key')
    .executeTakeFirst()
  return claimed !== undefined
}

/**
 * Runs `operation` at most once per key and body: the first request's booking or refusal is
 * stored in the same transaction as the hold itself, so a hold exists exactly when its key
 * records it, and a retry gets the first answer again.
 */
export async function runOnce (
  db: Database,
  key: string,
  hash: string,
  operation: (trx: Database) => Promise<Booking>
): Promise<Booking> {
  if (!await claim(db, key, hash)) {
    const existing = await db.selectFrom('idempotency_keys').select(['request_hash', 'outcome'])
      .where('key', '=', key).executeTakeFirst()
    if (existing === undefined) return await runOnce(db, key, hash, operation)
    if (existing.request_hash !== hash) {
      throw new EngineError('idempotency_key_reused', 'This Idempotency-Key was used with another request body')
    }
    if (existing.outcome === null) {
      throw new EngineError('idempotency_key_in_use', 'A request with this Idempotency-Key is still running')
    }
    return replay(existing.outcome as Outcome)
  }
  try {
    const outcome = await db.transaction().execute(async (trx) => {
      let result: Outcome
      try {
        result = { booking: await operation(trx) }
      } catch (error) {
        if (!(error instanceof EngineError)) throw error
        result = { error: { code: error.code, message: error.message, details: error.details } }
      }
      await trx.updateTable('idempotency_keys')
        .set({ outcome: JSON.stringify(result), locked_until: null })
        .where('key', '=', key)
        .execute()
      return result
    })
    return replay(outcome)
  } catch (error) {
    // Nothing was decided (the database failed us): free the key so that a retry runs anew.
    await db.deleteFrom('idempotency_keys').where('key', '=', key).where('outcome', 'is', null).execute().catch(() => {})
    throw error
  }
}
