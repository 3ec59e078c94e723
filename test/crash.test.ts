import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import type { Show } from '../api/index.ts'
import { createDatabase } from '../src/db/database.ts'
import { checkAcknowledged, createShow, Ledger, refused, runStorm, stormServerEnv } from './helpers/acknowledged.ts'
import { freshDatabaseUrl } from './helpers/database.ts'
import { startServerProcess, type ServerProcess } from './helpers/server-process.ts'

/*
 * Crash safety: a server process SIGKILLed in the middle of a booking storm loses nothing it
 * acknowledged and leaves nothing half-written.
 *
 * How it fails: if the server answered before its write was committed (an answer sent from inside
 * a transaction, a commit left to later), an acknowledged booking or status is missing after the
 * restart; if a hold, confirm or cancel took several transactions, a kill between them leaves a
 * booking without all its seats, a seat pointing at a booking that does not list it, or counts
 * that do not add up, and the invariant and half-done checks list it; if a hold's Idempotency-Key
 * record were written apart from the hold, its retry after the restart would not find the
 * booking: a second hold, or an orphan booking nobody can account for. An unanswered request that
 * did happen must have happened whole: the same checks cover it, and bookings nobody was told of
 * may not outnumber the unanswered holds.
 */

const adminToken = 'crash-test-admin-token-0123456789'
const totalSeats = 4_000
const loops = 32
const env = { ...stormServerEnv(adminToken), LOG_LEVEL: 'warn' }

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

interface Round { acknowledged: number, cut: number, refused: number, killedAtMs: number, sent: number }

/**
 * Storms `server` and SIGKILLs it `killAfterMs` (plus a random few ms, so that the kill lands at
 * a different point of whatever statements are running) into the storm, once it has acknowledged
 * at least `minimumAcks` holds.
 */
async function stormThenKill (server: ServerProcess, show: Show, ledger: Ledger, killAfterMs: number): Promise<Round> {
  const minimumAcks = 50
  const firstRequest = ledger.requests.length
  const ackedBefore = ledger.acknowledged.size
  let stopped = false
  const start = performance.now()
  const storm = runStorm({ url: server.url, showId: show.id, totalSeats, ledger, loops, stopped: () => stopped })
  const killAt = start + killAfterMs + Math.random() * 100
  const giveUpAt = start + 15_000
  while ((performance.now() < killAt || ledger.acknowledged.size - ackedBefore < minimumAcks) && performance.now() < giveUpAt) await sleep(5)
  server.kill('SIGKILL')
  const killedAtMs = performance.now() - start
  stopped = true
  await storm
  await server.exited
  const requests = ledger.requests.slice(firstRequest)
  return {
    acknowledged: ledger.acknowledged.size - ackedBefore,
    cut: requests.filter((record) => record.outcome.kind === 'failed' && !refused(record.outcome)).length,
    refused: requests.filter((record) => refused(record.outcome)).length,
    killedAtMs,
    sent: requests.length
  }
}

t.test('a server SIGKILLed mid-storm loses no acknowledged booking and leaves nothing half-done', async (t: Test) => {
  const databaseUrl = await freshDatabaseUrl()
  const { db } = createDatabase({ url: databaseUrl, poolMax: 2 })
  t.teardown(async () => await db.destroy())

  let server = await startServerProcess(t, { databaseUrl, env })
  const show = await createShow(server.url, adminToken, totalSeats)
  const ledger = new Ledger()

  // Two kills at different points of the storm; each restart costs seconds on 2 shared cores.
  for (const killAfterMs of [300, 900]) {
    const round = await stormThenKill(server, show, ledger, killAfterMs)
    t.comment(`killed ${round.killedAtMs.toFixed(0)} ms in: ${round.sent} requests, ${round.acknowledged} holds acknowledged, ${round.cut} cut in flight, ${round.refused} refused`)
    t.equal(server.exit()?.signal, 'SIGKILL', 'the server was killed')
    t.ok(round.acknowledged >= 50, 'the server acknowledged holds before the kill')
    t.ok(round.cut >= 1, 'the kill cut requests in flight')

    server = await startServerProcess(t, { databaseUrl, env })
    await checkAcknowledged(t, { url: server.url, db, showId: show.id, adminToken, ledger, exact: false })
  }

  const timeouts = ledger.requests.filter((record) => record.outcome.kind === 'failed' && record.outcome.code === 'TIMEOUT')
  t.equal(timeouts.length, 0, 'no request hung: those the kill cut failed at once')
  t.ok(ledger.count('confirm', 200) > 0 && ledger.count('cancel', 200) > 0, 'the storm confirmed and cancelled, too')
  t.comment(`in all: ${ledger.requests.length} requests, ${ledger.acknowledged.size} acknowledged holds, ` +
    `${ledger.count('confirm', 200)} confirms, ${ledger.count('cancel', 200)} cancels, ${ledger.unansweredHolds().length} holds unanswered and not settled by a retry`)
})
