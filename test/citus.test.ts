/**
 * On a Citus coordinator (the test server's maintenance database has the citus extension and
 * workers; skipped otherwise): every hot-path operation runs each of its statements on the show's
 * node alone, and its transaction commits there without two-phase commit. What each operation sends
 * to the workers is read from Citus's own log of remote commands.
 */
import pg from 'pg'
import t, { type Test } from 'tap'
import { createDatabase } from '../src/db/database.ts'
import { createBookingEngine } from '../src/engine/index.ts'
import { inAnHour, sleep } from './helpers/app.ts'
import { freshDatabaseUrl, onCitus } from './helpers/database.ts'

if (!await onCitus()) {
  t.pass('the test server is not a Citus coordinator with workers')
  process.exit(0)
}

const perShowTables = ['shows', 'seats', 'bookings', 'booking_seats', 'idempotency_keys', 'booking_shows']

interface RemoteCommand { connection: string, text: string }

/** A transaction, or a statement outside one, on one connection to a worker. */
interface RemoteBlock { commands: string[], end: 'COMMIT' | 'PREPARE' | 'ROLLBACK' | 'none' }

function blocksOf (commands: RemoteCommand[]): RemoteBlock[] {
  const blocks: RemoteBlock[] = []
  const open = new Map<string, RemoteBlock>()
  for (const { connection, text } of commands) {
    if (text.startsWith('BEGIN')) {
      const block: RemoteBlock = { commands: [], end: 'none' }
      open.set(connection, block)
      blocks.push(block)
    } else if (/^(COMMIT|PREPARE TRANSACTION|ROLLBACK)/.test(text)) {
      const block = open.get(connection)
      if (block !== undefined && block.end === 'none') block.end = text.startsWith('PREPARE') ? 'PREPARE' : text.startsWith('ROLLBACK') ? 'ROLLBACK' : 'COMMIT'
    } else if (!text.startsWith('COMMIT PREPARED')) {
      const block = open.get(connection)
      if (block !== undefined && block.end === 'none') block.commands.push(text)
      else blocks.push({ commands: [text], end: 'none' })
    }
  }
  return blocks
}

/** The shards a command names, as table name and shard id. */
const shardsOf = (text: string): Array<{ table: string, shard: number }> =>
  [...text.matchAll(/public\.([a-z_]+)_(\d+)\b/g)].map((match) => ({ table: match[1]!, shard: Number(match[2]) }))

const url = await freshDatabaseUrl()
const withLog = new URL(url)
withLog.searchParams.set('options', '-c citus.log_remote_commands=on -c client_min_messages=log')
const { db, pool } = createDatabase({ url: withLog.toString(), poolMax: 4 })
t.teardown(async () => await db.destroy())
let log: RemoteCommand[] = []
pool.on('connect', (client: pg.PoolClient) => {
  client.on('notice', (notice) => {
    const connection = /connectionId: (\d+)/.exec(notice.detail ?? '')?.[1]
    if (notice.message?.startsWith('issuing ') === true && connection !== undefined) {
      log.push({ connection: `${/server (\S+)/.exec(notice.detail ?? '')?.[1] ?? ''}#${connection}`, text: notice.message.slice('issuing '.length) })
    }
  })
})
const settings = { holdSeconds: 120, maxHoldSeconds: 900, maxSeatsPerShow: 1000, maxSeatsPerBooking: 10 }
const engine = createBookingEngine(db, settings)
/** Holds that lapse at once, for the sweep. */
const lapsing = createBookingEngine(db, { ...settings, holdSeconds: 1 })

async function showShards (showId: string): Promise<Map<string, number>> {
  const shards = new Map<string, number>()
  for (const table of perShowTables) {
    const { rows: [row] } = await pool.query<{ shard: string }>('SELECT get_shard_id_for_distribution_column($1::regclass, $2::text) AS shard', [table, showId])
    shards.set(table, Number(row!.shard))
  }
  return shards
}

/**
 * Runs `operation` and checks what it sent to the workers: every command on a per-show table names
 * that show's shard, and no transaction that touched them was committed in two phases.
 * `ignored` drops commands that are meant to read every shard (without locks).
 */
async function onShowNode (t: Test, name: string, showId: string, operation: () => Promise<unknown>, ignored?: RegExp) {
  const shards = await showShards(showId)
  log = []
  await operation()
  const commands = log.filter(({ text }) => ignored === undefined || !ignored.test(text))
  const perShow = commands.filter(({ text }) => shardsOf(text).some(({ table }) => shards.has(table)))
  t.ok(perShow.length > 0, `${name}: reaches the show's shards`)
  const elsewhere = perShow.flatMap(({ text }) => shardsOf(text).filter(({ table, shard }) => shards.has(table) && shards.get(table) !== shard))
  t.same(elsewhere, [], `${name}: names no other show's shard`)
  const twoPhase = blocksOf(commands).filter((block) => block.end === 'PREPARE' &&
    block.commands.some((text) => shardsOf(text).some(({ table }) => shards.has(table))))
  t.same(twoPhase.map((block) => block.commands), [], `${name}: commits on the show's node in one phase`)
}

t.test('every hot-path operation runs on its show\'s node, in one phase', async (t) => {
  const show = await engine.createShow({ name: 'Citus', start_time: inAnHour(), total_seats: 100 })
  const other = await engine.createShow({ name: 'Another', start_time: inAnHour(), total_seats: 100 })

  let booking = await engine.hold({ showId: show.id, quantity: 2 })
  await onShowNode(t, 'a hold by quantity', show.id, async () => { booking = await engine.hold({ showId: show.id, quantity: 2 }) })
  await onShowNode(t, 'a batch of holds, keyed and not', show.id, async () => await Promise.all([
    engine.hold({ showId: show.id, quantity: 1 }),
    ...['a', 'b', 'c'].map(async (key) => await engine.hold({ showId: show.id, quantity: 2 }, key)),
    engine.hold({ showId: show.id, quantity: 3 })
  ]))
  await onShowNode(t, 'a replayed Idempotency-Key', show.id, async () => await engine.hold({ showId: show.id, quantity: 2 }, 'a'))
  await onShowNode(t, 'a hold by labels', show.id, async () => await engine.hold({ showId: show.id, labels: ['50', '51'] }))
  await onShowNode(t, 'a keyed hold by labels', show.id, async () => await engine.hold({ showId: show.id, labels: ['60'] }, 'labels'))
  const rows = await engine.createShow({ name: 'Rows', start_time: inAnHour(), rows: [{ label: 'A', seats: 10 }, { label: 'A1', seats: 12 }] })
  await onShowNode(t, 'a hold by labels on rows', rows.id, async () => await engine.hold({ showId: rows.id, labels: ['A10', 'A11'] }))
  await onShowNode(t, 'a hold of seats together', show.id, async () => await engine.hold({ showId: show.id, quantity: 3, together: true }))
  await onShowNode(t, 'a keyed hold of seats together', show.id, async () => await engine.hold({ showId: show.id, quantity: 2, together: true }, 'together'))
  await onShowNode(t, 'a refused hold', show.id, async () => await t.rejects(engine.hold({ showId: show.id, labels: ['50'] }), { code: 'seats_unavailable' }))
  await onShowNode(t, 'reading a booking', show.id, async () => await engine.getBooking(booking.id))
  await onShowNode(t, 'availability', show.id, async () => await engine.getAvailability(show.id))
  await onShowNode(t, 'the seat map', show.id, async () => await engine.getSeatMap(show.id))
  await onShowNode(t, 'an extension', show.id, async () => await engine.extend(booking.id))
  await onShowNode(t, 'a confirm', show.id, async () => await engine.confirm(booking.id))
  await onShowNode(t, 'a cancel', show.id, async () => await engine.cancel(booking.id))

  await lapsing.hold({ showId: show.id, quantity: 2 })
  await lapsing.hold({ showId: other.id, quantity: 2 })
  await sleep(1100)
  // Finding the shows with lapsed holds reads every shard, without locks; each show is then swept alone.
  await onShowNode(t, 'the sweep of one show', show.id, async () => {
    t.ok((await engine.sweepExpiredHolds()).expired > 0)
  }, new RegExp(`SELECT DISTINCT|${other.id}`))
})

t.test('a waiting room\'s joins, reads and admitted holds run on its show\'s node, in one phase', async (t) => {
  const show = await engine.createShow({ name: 'Queue', start_time: inAnHour(), total_seats: 100, waiting_room: { admit_per_minute: 600_000 } })
  let token: string | null = null
  await onShowNode(t, 'joining the queue', show.id, async () => { token = (await engine.joinQueue(show.id)).admission_token })
  t.ok(token !== null, 'admitted at once at this rate')
  await onShowNode(t, 'a hold with an admission token', show.id, async () => await engine.hold({ showId: show.id, quantity: 2 }, undefined, token!))
  await onShowNode(t, 'a second hold on the token, refused', show.id, async () =>
    await t.rejects(engine.hold({ showId: show.id, quantity: 2 }, undefined, token!), { code: 'admission_in_use' }))
})

// A connection's lock_timeout stays on the coordinator: the worker bounds the waits of the
// statements Citus sends it by its own setting (make citus-start sets the role's; operations.md).
t.test('a hold waiting on a worker for a locked seat gives up after the worker\'s lock_timeout, as on one server', async (t) => {
  const show = await engine.createShow({ name: 'Locks', start_time: inAnHour(), total_seats: 10 })
  const { rows: [shard] } = await pool.query<{ shard_name: string, nodename: string, nodeport: number }>(
    'SELECT shard_name, nodename, nodeport FROM citus_shards WHERE table_name = $1::regclass AND shardid = get_shard_id_for_distribution_column($1::regclass, $2::text)',
    ['seats', show.id])
  const worker = new URL(url)
  worker.hostname = shard!.nodename
  worker.port = String(shard!.nodeport)
  const blocker = new pg.Client({ connectionString: worker.toString() })
  await blocker.connect()
  t.teardown(async () => { await blocker.end() })
  await blocker.query('BEGIN')
  await blocker.query(`SELECT 1 FROM ${shard!.shard_name} WHERE show_id = $1 AND seat_no = 1 FOR UPDATE`, [show.id])
  const started = Date.now()
  await t.rejects(engine.hold({ showId: show.id, labels: ['1'] }), { code: '55P03' }, 'lock_not_available, which the service answers with a 503')
  t.ok(Date.now() - started < 10_000, 'well before the statement timeout')
  await blocker.query('ROLLBACK')
})
