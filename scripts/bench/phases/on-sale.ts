import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import type { QueueTicket } from '../../../api/index.ts'
import { placementDelayMs } from '../../../src/engine/waiting-room/index.ts'
import { createShow, setWaitingRoom } from '../api.ts'
import type { Bench, Measured, Phase } from '../context.ts'
import { createDueQueue } from '../due-queue.ts'
import { load } from '../load.ts'
import { onSaleMinutes, round, say, scaled, targets } from '../settings.ts'
import type { Row } from '../table.ts'
import { plainFlashSale } from './flash-sale.ts'
import { warmUpJoins } from './warm-up.ts'

/**
 * The on-sale: a show of 2,000 seats behind a waiting room, and 50,000 buyers (a quarter of them
 * before the opening) who join its queue, poll their ticket when it says their turn comes, hold
 * two seats with their admission token once admitted, then confirm (half of them) or let the hold
 * lapse. The first rate admits everyone in about BENCH_ONSALE_MINUTES; halfway through the
 * admissions, the rate is raised by half. Measured: joins/s against the flash sale's holds/s,
 * fairness (Spearman's ρ of admission order against arrival order), the admission rate minute by
 * minute, how soon a rate change shows in the answers, and that no hold went through without a
 * valid token.
 */

interface Buyer {
  ticket: string
  /** Arrival order (the order the join answers came in) and whether it came before the opening. */
  arrival: number
  early: boolean
  /** When the server says it is admitted (ms since the epoch), once known. */
  admittedAt?: number
  /** When to poll next (ms since the epoch). */
  pollAt: number
}

const concurrency = 64
/** The later arrivals come over this long after the opening (at most half the first rate's admission). */
const arrivalSeconds = 60
/** An early joiner's first poll comes at a random moment this long after its place is drawn. */
const firstPollSpreadMs = 5_000

/** Spearman's rank correlation of two lists of distinct values. */
export function spearman (xs: number[], ys: number[]): number {
  const ranks = (values: number[]): number[] => {
    const order = values.map((value, i) => [value, i] as const).sort((a, b) => a[0] - b[0])
    const rank = new Array<number>(values.length)
    order.forEach(([, i], r) => { rank[i] = r })
    return rank
  }
  const [a, b] = [ranks(xs), ranks(ys)]
  const n = xs.length
  if (n < 2) return 1
  const d2 = a.reduce((sum, r, i) => sum + (r - b[i]!) ** 2, 0)
  return 1 - 6 * d2 / (n * (n * n - 1))
}

function percentile (values: number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!
}

/**
 * `amount` buyers join, 64 at a time, as fast as answered or `perSecond`; each joined one goes
 * into `buyers` and to `joined`.
 */
async function joinAll (base: string, showId: string, amount: number, buyers: Buyer[], { perSecond, joined = () => {} }: { perSecond?: number, joined?: (buyer: Buyer) => void } = {}) {
  return await load(base, {
    connections: concurrency,
    amount,
    perSecond,
    next: () => ({ out: { method: 'POST', path: `/shows/${showId}/queue` }, tag: undefined }),
    answered: ({ status, body }) => {
      if (status !== 201) return
      const ticket = JSON.parse(body) as QueueTicket
      // A ticket without a place joined before the opening, as the server decided it.
      const early = ticket.position === null
      const buyer = { ticket: ticket.ticket, arrival: buyers.length, early, pollAt: early ? 0 : Date.parse(ticket.estimated_admission_at!) }
      buyers.push(buyer)
      joined(buyer)
    }
  })
}

async function onSale (bench: Bench) {
  const seats = scaled(2_000)
  const total = scaled(50_000)
  const earlyCount = Math.round(total / 4)
  const firstRate = Math.max(1, Math.ceil(total / onSaleMinutes))
  const raisedRate = Math.ceil(firstRate * 1.5)
  await warmUpJoins(bench.base, 'on-sale: warm-up')
  // Long enough for the early quarter to join before the opening at 500 joins/s; those who join
  // later are counted as the server counts them.
  const opensAt = Date.now() + 5_000 + earlyCount * 2
  const showId = await createShow(bench.base, 'bench: on-sale', seats, {
    sales_open_at: new Date(opensAt).toISOString(),
    waiting_room: { admit_per_minute: firstRate }
  })
  say(`› on-sale: ${seats} seats, ${total} buyers (${earlyCount} before the opening), admitted at ${firstRate}/min, then ${raisedRate}/min`)

  return await bench.rss.during('on-sale', async () => {
    const buyers: Buyer[] = []
    const early = await joinAll(bench.base, showId, earlyCount, buyers)
    // Early joiners are placed a moment after the opening; until then they have no time to poll at.
    const placed = opensAt + placementDelayMs
    for (const buyer of buyers) buyer.pollAt = placed + 500 + Math.random() * firstPollSpreadMs
    const due = createDueQueue((buyer: Buyer) => buyer.pollAt, buyers)
    await sleep(Math.max(0, opensAt - Date.now()))
    // The later arrivals join while the first ones poll and hold.
    let wake = (): void => {}
    let joining = true
    const lateCount = total - earlyCount
    const lateJoins = joinAll(bench.base, showId, lateCount, buyers, {
      perSecond: Math.ceil(lateCount / Math.min(arrivalSeconds, onSaleMinutes * 30)),
      joined: (buyer) => { due.push(buyer); wake() }
    }).finally(() => { joining = false; wake() })

    const holds = { ok: 0, refused: 0, unavailable: 0, other: 0, latenciesMs: [] as number[] }
    const statuses: Record<string, number> = {}
    let polls = 0
    let rateChange: { at: number, seenAfterMs: number } | undefined
    async function request (method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
      const response = await fetch(`${bench.base}${path}`, {
        method,
        headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body)
      })
      return { status: response.status, json: await response.json() as any }
    }

    async function serve (buyer: Buyer): Promise<void> {
      polls++
      const answer = await request('GET', `/shows/${showId}/queue/${buyer.ticket}`)
      if (answer.status !== 200) {
        statuses[`poll ${answer.status}`] = (statuses[`poll ${answer.status}`] ?? 0) + 1
        buyer.pollAt = Date.now() + 1_000
        return
      }
      const ticket = answer.json as QueueTicket
      if (ticket.status === 'waiting') {
        buyer.pollAt = ticket.estimated_admission_at === null ? Date.now() + 1_000 : Math.max(Date.now() + 200, Date.parse(ticket.estimated_admission_at))
        return
      }
      buyer.admittedAt = Date.parse(ticket.estimated_admission_at!)
      const started = performance.now()
      const held = await request('POST', '/bookings', { 'admission-token': ticket.admission_token! }, { show_id: showId, quantity: 2 })
      const key = `hold ${held.status}${held.json?.code === undefined ? '' : ` ${String(held.json.code)}`}`
      statuses[key] = (statuses[key] ?? 0) + 1
      if (held.status === 201) {
        holds.ok++
        holds.latenciesMs.push(performance.now() - started)
        if (Math.random() < 0.5) await request('POST', `/bookings/${String(held.json.id)}/confirm`)
      } else if (held.status === 409 && held.json.code === 'insufficient_seats') holds.unavailable++
      else if (held.status === 403) holds.refused++
      else holds.other++
    }

    /** Polls a waiting ticket from the back of the queue until its estimate moves: how soon a rate change shows. */
    async function raiseRate (): Promise<void> {
      const probe = buyers.filter((buyer) => buyer.admittedAt === undefined).at(-1)
      const before = probe === undefined ? undefined : (await request('GET', `/shows/${showId}/queue/${probe.ticket}`)).json as QueueTicket
      await setWaitingRoom(bench.base, showId, { admit_per_minute: raisedRate })
      const at = Date.now()
      let seenAfterMs = Infinity
      while (probe !== undefined && Date.now() - at < 30_000) {
        const now = (await request('GET', `/shows/${showId}/queue/${probe.ticket}`)).json as QueueTicket
        if (now.status === 'admitted' || now.estimated_admission_at !== before?.estimated_admission_at) {
          seenAfterMs = Date.now() - at
          break
        }
        await sleep(100)
      }
      rateChange = { at, seenAfterMs }
    }

    // The buyers poll when their ticket says; `concurrency` of them at a time.
    const admissionStarted = Date.now()
    let changing: Promise<void> | undefined
    const pending = new Set<Promise<void>>()
    let admitted = 0
    for (;;) {
      if (!joining && due.size === 0 && pending.size === 0) break
      if (changing === undefined && admitted >= total / 2) changing = raiseRate()
      for (;;) {
        const buyer = pending.size < concurrency ? due.takeDue(Date.now()) : undefined
        if (buyer === undefined) break
        const served = serve(buyer).catch((error: Error) => {
          statuses[`error ${error.message}`] = (statuses[`error ${error.message}`] ?? 0) + 1
          buyer.pollAt = Date.now() + 1_000
        }).finally(() => {
          pending.delete(served)
          if (buyer.admittedAt === undefined) due.push(buyer)
          else admitted++
          wake()
        })
        pending.add(served)
      }
      // Until an answer frees a place or, with places free, the next buyer is due.
      const idle = pending.size < concurrency ? [sleep(Math.min(50, Math.max(1, due.nextDue() - Date.now())))] : []
      await Promise.race([new Promise<void>((resolve) => { wake = resolve }), ...idle])
    }
    await changing
    const late = await lateJoins
    const beforeOpening = buyers.filter((buyer) => buyer.early).length
    const joins = { requests: early.requests + late.requests, ok: early.ok + late.ok, non2xx: early.non2xx + late.non2xx, errors: early.errors + late.errors }

    // Tokens that must not hold: none, forged, another show's.
    const otherShow = await createShow(bench.base, 'bench: on-sale, another', 10, { waiting_room: { admit_per_minute: 1_000_000 } })
    const otherToken = ((await request('POST', `/shows/${otherShow}/queue`)).json as QueueTicket).admission_token!
    const forged = `${otherToken.split('.')[0]!}.${randomBytes(16).toString('base64url')}`
    const probes = await Promise.all([undefined, forged, otherToken].map(async (token) =>
      (await request('POST', '/bookings', token === undefined ? {} : { 'admission-token': token }, { show_id: showId, quantity: 1 })).status))
    // Each buyer holds once, so every booking is the last one its admission made.
    const { rows: [check] } = await sql<{ bookings: number, unadmitted: number }>`
      SELECT count(*)::int AS bookings, count(*) FILTER (WHERE a.seq IS NULL)::int AS unadmitted
      FROM bookings b LEFT JOIN admissions a ON a.show_id = ${showId} AND a.booking_id = b.id
      WHERE b.show_id = ${showId}`.execute(bench.db)

    // Fairness: admission order against arrival order, for each group.
    const rho = (group: Buyer[]): number => spearman(group.map((buyer) => buyer.arrival), group.map((buyer) => buyer.admittedAt!))
    const earlyBuyers = buyers.filter((buyer) => buyer.early)
    const lateBuyers = buyers.filter((buyer) => !buyer.early)

    // The admission rate, minute by minute from the opening, over the minutes that ended before the
    // last admission and did not straddle the rate change; against the rate in force.
    const times = buyers.map((buyer) => buyer.admittedAt!).sort((a, b) => a - b)
    const lastAdmission = times.at(-1) ?? opensAt
    const minutes: Array<{ minute: number, admitted: number, expected: number }> = []
    for (let start = opensAt; start + 60_000 <= lastAdmission; start += 60_000) {
      const end = start + 60_000
      if (rateChange !== undefined && start < rateChange.at && rateChange.at < end) continue
      const rate = rateChange !== undefined && start >= rateChange.at ? raisedRate : firstRate
      minutes.push({ minute: (start - opensAt) / 60_000, admitted: times.filter((time) => time >= start && time < end).length, expected: rate })
    }
    const worstDeviation = Math.max(0, ...minutes.map((minute) => Math.abs(minute.admitted - minute.expected) / minute.expected))

    return {
      seats,
      buyers: total,
      joined: buyers.length,
      joinedBeforeOpening: beforeOpening,
      rates: { first: firstRate, raised: raisedRate },
      // What joining costs: the joins before the opening, as fast as answered, with nothing else running.
      joins: { ...joins, perSecond: early.okPerSecond, duringSalePerSecond: late.okPerSecond },
      admissionSeconds: round((Date.now() - admissionStarted) / 1000),
      polls,
      holds: { ok: holds.ok, soldOut: holds.unavailable, refused: holds.refused, other: holds.other, p50Ms: round(percentile(holds.latenciesMs, 0.5)), p99Ms: round(percentile(holds.latenciesMs, 0.99)) },
      statuses,
      fairness: { arrivalOrderRho: round(rho(lateBuyers), 4), drawnOrderRho: round(rho(earlyBuyers), 4) },
      minutes,
      worstDeviation: round(worstDeviation, 3),
      rateChangeSeenAfterMs: rateChange?.seenAfterMs ?? null,
      tokenProbes: probes,
      bookings: check?.bookings ?? 0,
      bookingsWithoutAdmission: check?.unadmitted ?? 0
    }
  })
}

export type OnSale = Awaited<ReturnType<typeof onSale>>

function onSaleRows (sale: OnSale, measured: Measured): Row[] {
  const phase = 'on-sale'
  const flash = measured.get(plainFlashSale)
  const ratio = flash === undefined || flash.holdsPerSecond === 0 ? undefined : sale.joins.perSecond / flash.holdsPerSecond
  const admitted503s = sale.statuses['hold 503'] ?? 0
  return [
    { phase, metric: 'buyers joined (before the opening)', value: `${sale.joined} of ${sale.buyers} (${sale.joinedBeforeOpening})`, target: '' },
    { phase, metric: 'joins/s (before the opening, as fast as answered)', value: String(sale.joins.perSecond), target: '' },
    { phase, metric: 'joins/s after the opening (arrivals paced over a minute)', value: String(sale.joins.duringSalePerSecond), target: '' },
    ratio === undefined
      ? { phase, metric: 'joins/s over flash sale holds/s', value: 'not run', target: `>= ${targets.joinsOverHolds}` }
      : { phase, metric: 'joins/s over flash sale holds/s', value: String(round(ratio, 2)), target: `>= ${targets.joinsOverHolds}`, pass: ratio >= targets.joinsOverHolds },
    { phase, metric: 'holds 201 / sold out / other', value: `${sale.holds.ok} / ${sale.holds.soldOut} / ${sale.holds.other + sale.holds.refused}`, target: '' },
    { phase, metric: 'admitted holds answered 503', value: String(admitted503s), target: '0', pass: admitted503s === 0 },
    { phase, metric: 'admitted hold p99 (ms)', value: String(sale.holds.p99Ms), target: `<= ${targets.p99Ms}`, pass: sale.holds.p99Ms <= targets.p99Ms },
    {
      phase,
      metric: 'holds without a valid token (none, forged, other show)',
      value: `${sale.tokenProbes.join(', ')}; ${sale.bookingsWithoutAdmission} bookings without an admission`,
      target: '403s, 0',
      pass: sale.tokenProbes.every((status) => status === 403) && sale.bookingsWithoutAdmission === 0
    },
    { phase, metric: 'ρ admission vs arrival, after the opening', value: String(sale.fairness.arrivalOrderRho), target: `>= ${targets.arrivalOrderRho}`, pass: sale.fairness.arrivalOrderRho >= targets.arrivalOrderRho },
    { phase, metric: '|ρ| admission vs arrival, before the opening', value: String(Math.abs(sale.fairness.drawnOrderRho)), target: `<= ${targets.drawnOrderRho}`, pass: Math.abs(sale.fairness.drawnOrderRho) <= targets.drawnOrderRho },
    sale.minutes.length === 0
      ? { phase, metric: 'admitted per minute vs the rate (worst)', value: 'no whole minute', target: `±${targets.rateDeviation * 100} %` }
      : { phase, metric: 'admitted per minute vs the rate (worst)', value: `${round(sale.worstDeviation * 100)} % over ${sale.minutes.length} min`, target: `±${targets.rateDeviation * 100} %`, pass: sale.worstDeviation <= targets.rateDeviation },
    sale.rateChangeSeenAfterMs === null
      ? { phase, metric: 'rate change seen after (ms)', value: 'not measured', target: `<= ${targets.rateChangeMs}` }
      : { phase, metric: 'rate change seen after (ms)', value: String(sale.rateChangeSeenAfterMs), target: `<= ${targets.rateChangeMs}`, pass: sale.rateChangeSeenAfterMs <= targets.rateChangeMs }
  ]
}

export const onSalePhase: Phase<OnSale> = {
  name: 'on-sale',
  key: 'onSale',
  needs: [plainFlashSale],
  run: onSale,
  rows: onSaleRows
}
