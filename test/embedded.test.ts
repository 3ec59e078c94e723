import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { createDatabase } from '../src/db/database.ts'
import { closedFolderOnPath, EmbeddedDatabaseError } from '../src/db/embedded.ts'
import { pendingMigrations } from '../src/db/migrations.ts'
import { resolveDatabase } from '../src/db/target.ts'
import { createBookingEngine } from '../src/engine/index.ts'

t.test('with no database configured, an embedded PostgreSQL is started, migrated, and keeps its data', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'booking-embedded-'))
  await chmod(dir, 0o755)
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const dataDir = path.join(dir, 'postgres')
  const config = loadConfig({}, false)

  const first = await resolveDatabase(config, { dataDir })
  t.equal(first.embedded, true)
  let { db } = createDatabase({ url: first.url })
  t.same(await pendingMigrations(db), [], 'migrated on first start')
  const show = await createBookingEngine(db, { holdSeconds: 60, maxHoldSeconds: 900, maxSeatsPerBooking: 10, maxSeatsPerShow: 100 })
    .createShow({ name: 'Kept', start_time: new Date(Date.now() + 3600_000).toISOString(), total_seats: 5 })
  await db.destroy()
  await first.stop()

  const second = await resolveDatabase(config, { dataDir })
  t.teardown(async () => await second.stop())
  db = createDatabase({ url: second.url }).db
  t.teardown(async () => await db.destroy())
  const kept = await db.selectFrom('shows').select('name').where('id', '=', show.id).executeTakeFirst()
  t.same(kept, { name: 'Kept' }, 'the second start reuses the data')
})

t.test('a configured database is used as it is', async (t) => {
  const target = await resolveDatabase(loadConfig({ DATABASE_URL: 'postgres://app@db.internal/booking' }, false))
  t.same({ url: target.url, embedded: target.embedded }, { url: 'postgres://app@db.internal/booking', embedded: false })
  await target.stop()
})

t.test('as root, a data folder the postgres user cannot enter stops the start at once with one line saying what to do', { skip: userInfo().uid === 0 ? false : 'only root runs PostgreSQL as another user' }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'booking-private-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  // mkdtemp makes it mode 700, as /root is.
  t.equal(closedFolderOnPath(dir), dir)
  await t.rejects(resolveDatabase(loadConfig({}, false), { dataDir: path.join(dir, 'postgres') }), new EmbeddedDatabaseError(
    `The embedded PostgreSQL runs as the postgres user, who cannot enter ${dir}: run \`chmod o+x ${dir}\`, clone the project into a folder others may enter, or set DATABASE_URL`))
  await chmod(dir, 0o755)
  t.equal(closedFolderOnPath(dir), undefined)
})
