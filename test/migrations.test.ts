import { sql } from 'kysely'
import t from 'tap'
import { createDatabase } from '../src/db/database.ts'
import { dbmate, pendingMigrations, shippedMigrationVersions } from '../src/db/migrations.ts'
import { freshDatabaseUrl } from './helpers/database.ts'

t.test('migrations go up, down and up again', async (t) => {
  const url = await freshDatabaseUrl({ migrated: false })
  const { db } = createDatabase({ url })
  t.teardown(async () => await db.destroy())
  const tables = async () => (await sql<{ name: string }>`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_name <> 'schema_migrations' ORDER BY 1`.execute(db)).rows.map((row) => row.name)

  t.same(await pendingMigrations(db), shippedMigrationVersions(), 'all pending on a blank database')
  await dbmate(url, ['up'])
  t.same(await tables(), ['admissions', 'booking_seats', 'booking_shows', 'bookings', 'idempotency_keys', 'seats', 'shows', 'waiting_room_rates', 'waiting_rooms'])
  t.same(await pendingMigrations(db), [])

  for (let i = 0; i < shippedMigrationVersions().length; i++) await dbmate(url, ['down'])
  t.same(await tables(), [], 'down removes every table')
  t.same(await pendingMigrations(db), shippedMigrationVersions())

  await dbmate(url, ['up'])
  t.same(await tables(), ['admissions', 'booking_seats', 'booking_shows', 'bookings', 'idempotency_keys', 'seats', 'shows', 'waiting_room_rates', 'waiting_rooms'], 'and up again')
})

t.test('a failing migration run reports dbmate\'s words', async (t) => {
  await t.rejects(dbmate('postgres://postgres@127.0.0.1:1/nowhere', ['status']), /dbmate status failed/)
})
