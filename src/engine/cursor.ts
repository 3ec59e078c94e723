import { invalidInput } from './errors.ts'
import { isUuid } from './uuid.ts'

/**
 * Keyset pagination: a cursor is the sort key of the last item of a page, opaque to clients.
 * Keys are [timestamp ISO string, uuid].
 */
export type CursorKey = [string, string]

export const defaultPageSize = 20

export function encodeCursor (key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

// What toISOString gives for the timestamps PostgreSQL stores: four-digit years only, so a forged
// cursor cannot carry a date PostgreSQL refuses.
const isoPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

export function decodeCursor (cursor: string | undefined): CursorKey | undefined {
  if (cursor === undefined) return undefined
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString())
    if (Array.isArray(key) && key.length === 2 && typeof key[0] === 'string' && isoPattern.test(key[0]) && !Number.isNaN(Date.parse(key[0])) &&
      typeof key[1] === 'string' && isUuid(key[1])) {
      return [key[0], key[1]]
    }
  } catch {}
  throw invalidInput('cursor', 'is not a cursor this API gave out')
}

/** Splits a fetched `limit + 1` rows into a page and the cursor of the next one. */
export function toPage<Row, Item> (rows: Row[], limit: number, key: (row: Row) => CursorKey, toItem: (row: Row) => Item): { items: Item[], next_cursor: string | null } {
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  return {
    items: page.map(toItem),
    next_cursor: rows.length > limit && last !== undefined ? encodeCursor(key(last)) : null
  }
}
