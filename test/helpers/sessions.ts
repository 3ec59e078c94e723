import pg from 'pg'
import type { Test } from 'tap'

/** A database session of the test's own, ended when the test ends. */
export async function session (t: Test, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(async () => { await client.end() })
  return client
}

/** Locks the seats labelled `labels` of `showId` until the returned function is called. */
export async function lockSeats (t: Test, url: string, showId: string, labels: string[]): Promise<() => Promise<void>> {
  const client = await session(t, url)
  await client.query('BEGIN')
  await client.query('SELECT 1 FROM seats WHERE show_id = $1 AND label = ANY($2) ORDER BY seat_no FOR UPDATE', [showId, labels])
  return async () => { await client.query('ROLLBACK') }
}
