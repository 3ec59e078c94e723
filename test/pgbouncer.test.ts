import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import type { Booking, ProblemCode } from '../api/index.ts'
import { freePort } from '../src/db/embedded.ts'
import { createShow, hold, testApp } from './helpers/app.ts'
import { freshDatabaseUrl } from './helpers/database.ts'
import { invariantViolations, seatCounts } from './helpers/invariants.ts'

const pgbouncer = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((candidate) => {
  try {
    accessSync(candidate, constants.X_OK)
    return true
  } catch {
    return false
  }
})

/**
 * PgBouncer in transaction pooling mode in front of `url`'s database, on a port of its own. Clients
 * may connect as anyone (auth_type any); the server connection uses the URL's credentials.
 */
async function startPgbouncer (t: Test, url: string): Promise<string> {
  const target = new URL(url)
  const dir = await mkdtemp(path.join(tmpdir(), 'booking-pgbouncer-'))
  // PgBouncer will not run as root; it drops to the postgres user, who must read its files.
  await chmod(dir, 0o777)
  const port = await freePort()
  const database = decodeURIComponent(target.pathname.slice(1))
  const ini = path.join(dir, 'pgbouncer.ini')
  await writeFile(ini, [
    '[databases]',
    `${database} = host=${target.hostname} port=${target.port || 5432} dbname=${database} user=${decodeURIComponent(target.username)}${target.password === '' ? '' : ` password=${decodeURIComponent(target.password)}`}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = any',
    'pool_mode = transaction',
    'default_pool_size = 4',
    'max_client_conn = 200',
    // node-postgres sends these at connection start; behind PgBouncer they are set on the role instead (docs/operations.md).
    'ignore_startup_parameters = extra_float_digits,statement_timeout,lock_timeout,idle_in_transaction_session_timeout',
    `logfile = ${path.join(dir, 'pgbouncer.log')}`,
    `pidfile = ${path.join(dir, 'pgbouncer.pid')}`
  ].join('\n') + '\n', { mode: 0o644 })
  const args = userInfo().uid === 0 ? ['-u', 'postgres', ini] : [ini]
  const child = spawn(pgbouncer!, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += String(chunk) })
  child.stderr.on('data', (chunk: Buffer) => { output += String(chunk) })
  t.teardown(async () => {
    child.kill('SIGTERM')
    await rm(dir, { recursive: true, force: true })
  })
  const bouncerUrl = new URL(url)
  bouncerUrl.hostname = '127.0.0.1'
  bouncerUrl.port = String(port)
  for (let tries = 0; tries < 50; tries++) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited: ${output}`)
    if (await new Promise<boolean>((resolve) => {
      import('node:net').then(({ connect }) => {
        const socket = connect(port, '127.0.0.1', () => { socket.end(); resolve(true) })
        socket.once('error', () => resolve(false))
      }).catch(() => resolve(false))
    })) return bouncerUrl.toString()
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`pgbouncer did not listen: ${output}`)
}

t.test('through PgBouncer in transaction mode, storms keep every booking invariant', { skip: pgbouncer === undefined && 'pgbouncer is not installed' }, async (t) => {
  const direct = await freshDatabaseUrl()
  const bouncer = await startPgbouncer(t, direct)
  // Two app instances sharing four server connections: every statement and transaction may land
  // on a connection another client used last, so nothing may rely on session state.
  const apps = await Promise.all([0, 1].map(async () => (await testApp(t, { url: bouncer, listenUrl: direct, preparedStatements: false, poolMax: 10 })).app))
  const { db } = await testApp(t, { url: direct })
  const show = await createShow(apps[0]!, { total_seats: 300 })

  const attempts = await Promise.all(Array.from({ length: 400 }, async (_, i) => {
    const app = apps[i % 2]!
    const body = i % 5 === 0 ? { show_id: show.id, seats: [String(1 + (i % 300))] } : { show_id: show.id, quantity: 1 + (i % 3) }
    const headers: Record<string, string> = i % 7 === 0 ? { 'idempotency-key': `bouncer-${i}` } : {}
    const response = await hold(app, body, headers)
    return { status: response.statusCode, body: response.json() as Booking & { code?: ProblemCode } }
  }))
  const soldOut: ProblemCode[] = ['insufficient_seats', 'seats_unavailable']
  const unexpected = attempts.filter(({ status, body }) => status !== 201 && !(body.code !== undefined && soldOut.includes(body.code)))
  t.same(unexpected, [], 'every hold answered 201 or a sold-out 409')
  const held = attempts.filter(({ status }) => status === 201).map(({ body }) => body)
  const seats = held.flatMap((booking) => booking.seats)
  t.equal(new Set(seats).size, seats.length, 'no seat in two holds')

  const confirms = await Promise.all(held.slice(0, 50).map(async (booking, i) =>
    (await apps[i % 2]!.inject({ method: 'POST', url: `/bookings/${booking.id}/confirm` })).statusCode))
  t.ok(confirms.every((status) => status === 200), 'confirms through PgBouncer')
  const replay = await hold(apps[1]!, { show_id: show.id, seats: ['1'] }, { 'idempotency-key': 'bouncer-0' })
  t.same({ status: replay.statusCode, id: replay.json().id }, { status: attempts[0]!.status, id: attempts[0]!.body.id },
    'an Idempotency-Key replays through the other instance')

  t.same(await invariantViolations(db, show.id), [])
  const counts = await seatCounts(db, show.id)
  t.equal(counts.held + counts.booked, seats.length, 'the database holds exactly the acknowledged seats')
  const { availability } = (await apps[1]!.inject(`/shows/${show.id}/availability`)).json()
  t.same(availability, { total: 300, available: counts.free, held: counts.held, booked: counts.booked })
})
