import { randomBytes } from 'node:crypto'
import { expressionBuilder, sql } from 'kysely'
import { jsonArrayFrom } from 'kysely/helpers/postgres'
import type { Database } from '../../db/database.ts'
import { jsonArray, jsonRows } from '../../db/json-rows.ts'
import type { DB } from '../../db/types.ts'
import type { Room } from './schedule.ts'

/**
 * The waiting room's statements, each about one show and filtered by it (on a database
 * distributed by show, each runs on the show's node). A room is one row of counters and a list of
 * rate settings; joining is one update of the row.
 */

const eb = expressionBuilder<DB, never>()
/** The clock when the statement reads it: after the row locks taken before it. */
const clock = eb.fn<Date>('clock_timestamp', [])
/** A room without sales_open_at opens when the show was created. */
const opening = expressionBuilder<DB, 'shows'>().fn.coalesce('shows.sales_open_at', 'shows.created_at')

/** The show, its room (null columns when it has none) and rate settings, and the clock. */
export interface ShowRoomRow {
  start_time: Date
  sales_open_at: Date | null
  opens_at: Date
  now: Date
  shuffle_seed: Buffer | null
  joined: string | null
  joined_before_opening: string | null
  settings: Array<{ since: string, admit_per_minute: number | null, admitted_before: number }>
}

export function readShowRoom (db: Database, showId: string) {
  return db.selectFrom('shows')
    .leftJoin('waiting_rooms as w', (join) => join.on('w.show_id', '=', showId).onRef('w.show_id', '=', 'shows.id'))
    .select([
      'shows.start_time', 'shows.sales_open_at', opening.as('opens_at'), clock.as('now'),
      'w.shuffle_seed', 'w.joined', 'w.joined_before_opening', rateSettings(showId)
    ])
    .where('shows.id', '=', showId)
    .$castTo<ShowRoomRow>()
}

/** The room's rate settings, in the order they were set, as a JSON array. */
function rateSettings (showId: string) {
  return jsonArrayFrom(eb.selectFrom('waiting_room_rates as r')
    .select(['r.since', 'r.admit_per_minute', 'r.admitted_before'])
    .where('r.show_id', '=', showId)
    .orderBy('r.setting')).as('settings')
}

/** The room of a row that has one. */
export function toRoom (showId: string, row: ShowRoomRow): Room | undefined {
  if (row.shuffle_seed === null) return undefined
  return {
    showId,
    now: row.now.getTime(),
    opensAt: row.opens_at.getTime(),
    startsAt: row.start_time.getTime(),
    joined: Number(row.joined),
    joinedBeforeOpening: Number(row.joined_before_opening),
    seed: row.shuffle_seed,
    settings: row.settings.map((setting) => ({
      since: Date.parse(setting.since),
      admitPerMinute: setting.admit_per_minute,
      admittedBefore: setting.admitted_before
    }))
  }
}

/**
 * `count` buyers join the room of an open show: the counter moves by `count` (and the count of
 * those who joined before the opening too, while it is ahead, by the clock once the row is
 * locked), so the joiners' sequence numbers are joined - count + 1 .. joined. It answers the
 * show and room as they are then, as readShowRoom does: a batch of joins is one round trip. No row
 * when the show has no room or has started. The clock is read in a CTE over the locked row, not
 * in the update itself: a distributed database refuses volatile functions there, and the CTE
 * reads it after the lock all the same. The lock is FOR NO KEY UPDATE, as the update's own: a
 * hold's transaction that adds an admission takes FOR KEY SHARE on the row (the admission's
 * foreign key) until it commits, and FOR UPDATE would make every join wait for such holds.
 */
export function joinRoom (db: Database, showId: string, count: number) {
  return db
    .with('locked', (qb) => qb.selectFrom('waiting_rooms').select('waiting_rooms.show_id').where('waiting_rooms.show_id', '=', showId).forNoKeyUpdate())
    .with('at', (qb) => qb.selectFrom('locked').select(clock.as('now')))
    .updateTable('waiting_rooms as w')
    .from(['shows', 'at'])
    .set((eb) => ({
      joined: eb('w.joined', '+', String(count)),
      joined_before_opening: eb('w.joined_before_opening', '+', eb.case().when('at.now', '<', opening).then(eb.cast<string>(eb.val(count), 'bigint')).else(eb.cast<string>(eb.val(0), 'bigint')).end())
    }))
    .where('w.show_id', '=', showId)
    .where('shows.id', '=', showId)
    .whereRef('shows.start_time', '>', 'at.now')
    .returning([
      'shows.start_time', 'shows.sales_open_at', opening.as('opens_at'), 'at.now',
      'w.shuffle_seed', 'w.joined', 'w.joined_before_opening', rateSettings(showId)
    ])
    .$castTo<ShowRoomRow>()
}

/** A new room, for a show created in the same transaction or an existing one that had none. */
export function createRoom (db: Database, showId: string) {
  return db.insertInto('waiting_rooms')
    .columns(['show_id', 'shuffle_seed'])
    .expression((eb) => eb.selectFrom('shows').select(['shows.id', eb.val(randomBytes(32)).as('shuffle_seed')]).where('shows.id', '=', showId))
    .onConflict((oc) => oc.column('show_id').doNothing())
}

/**
 * Locks the room's row as a join does, so that settings are added one at a time and between joins:
 * the clock read after it is later than every setting's.
 */
export function lockRoom (db: Database, showId: string) {
  return db.selectFrom('waiting_rooms').select('show_id').where('show_id', '=', showId).forNoKeyUpdate()
}

/** A new rate setting from `since` (the clock read under the room's lock) on; null switches the room off. */
export function addRateSetting (db: Database, showId: string, setting: { since: Date, admitPerMinute: number | null, admittedBefore: number }) {
  return db.insertInto('waiting_room_rates')
    .columns(['show_id', 'setting', 'since', 'admit_per_minute', 'admitted_before'])
    .expression((eb) => eb.selectFrom('waiting_rooms as w')
      .select((eb) => [
        'w.show_id',
        eb.selectFrom('waiting_room_rates as r').select(sql<number>`coalesce(max(r.setting), 0) + 1`.as('next')).where('r.show_id', '=', showId).as('setting'),
        eb.val(setting.since).as('since'),
        eb.val(setting.admitPerMinute).as('admit_per_minute'),
        eb.val(setting.admittedBefore).as('admitted_before')
      ])
      .where('w.show_id', '=', showId))
}

/** Makes the admissions' rows that do not exist yet, so that claimAdmissions has rows to lock. */
export function addAdmissions (db: Database, showId: string, seqs: number[]) {
  return db.insertInto('admissions')
    .columns(['show_id', 'seq'])
    .expression((eb) => eb.selectFrom(['waiting_rooms as w', jsonRows(seqs.map((seq) => ({ seq })), { seq: 'bigint' })])
      .select(['w.show_id', 'h.seq'])
      .where('w.show_id', '=', showId))
    .onConflict((oc) => oc.columns(['show_id', 'seq']).doNothing())
}

/**
 * Claims admissions for new holds: locks their rows in sequence order (so concurrent claims lock
 * them in one order) and answers those whose last booking is no longer live, judged on the row's
 * latest version once locked: a booking committed since this statement began is on the row
 * though not in its snapshot, and counts as live; one committed before is free once it is no
 * longer PENDING or its hold, extended or not, has ended (by the clock read after the locks).
 * The locks last until the transaction ends, in which the hold records its booking on the row.
 * With 'skip-locked', an admission another transaction has locked is passed over, not waited for.
 */
export function claimAdmissions (db: Database, showId: string, seqs: number[], lockWait: 'skip-locked' | 'wait') {
  return db
    .with('locked', (qb) => qb.selectFrom('admissions')
      .select(['admissions.seq', 'admissions.booking_id'])
      .where('admissions.show_id', '=', showId)
      .where('admissions.seq', '=', (eb) => eb.fn.any(jsonArray(seqs.map(String), 'bigint')))
      .orderBy('admissions.seq')
      .forUpdate()
      .$if(lockWait === 'skip-locked', (qb) => qb.skipLocked()))
    .with('at', (qb) => qb.selectFrom('locked').select((eb) => [eb.fn.countAll().as('locked'), clock.as('now')]))
    .selectFrom(['locked', 'at'])
    .select('locked.seq')
    .where((eb) => eb.or([
      eb('locked.booking_id', 'is', null),
      eb.exists(eb.selectFrom('bookings as b').select('b.id')
        .where('b.show_id', '=', showId)
        .whereRef('b.id', '=', 'locked.booking_id')
        .where((eb) => eb.or([eb('b.status', '<>', 'PENDING'), eb('b.hold_expires_at', '<=', eb.ref('at.now'))])))
    ]))
}

/** Records the hold each claimed admission now has, in the holds' transaction. */
export function recordAdmissions (db: Database, showId: string, held: Array<{ seq: number, booking_id: string, held_until: string }>) {
  return db.updateTable('admissions')
    .from(jsonRows(held, { seq: 'bigint', booking_id: 'uuid', held_until: 'timestamptz' }))
    .set((eb) => ({ booking_id: eb.ref('h.booking_id'), held_until: eb.ref('h.held_until') }))
    .where('admissions.show_id', '=', showId)
    .where('admissions.seq', '=', (eb) => eb.fn.any(jsonArray(held.map((row) => String(row.seq)), 'bigint')))
    .whereRef('admissions.seq', '=', 'h.seq')
}
