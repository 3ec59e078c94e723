import { readFile } from 'node:fs/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { ConfigSchema } from '../../../src/config.ts'
import { freePort } from '../../../src/db/embedded.ts'
import { createShow } from '../api.ts'
import type { Bench, Phase } from '../context.ts'
import { invariantRows, saleInvariants } from '../invariants.ts'
import type { Probed } from '../probe-child.ts'
import { startProbe, type ProbeResults } from '../probe.ts'
import { cpuMs, rssMeter } from '../process-stats.ts'
import { timedSale } from '../sale.ts'
import { startApi, type ApiServer } from '../server.ts'
import { drainLimitSeconds, largestShow, round, say, scaled, seconds, targets } from '../settings.ts'
import type { Row } from '../table.ts'
import { warmUp } from './warm-up.ts'

/**
 * The stampede: far more clients than the server has database connections, all holding on one
 * show, once with the server's load shedding at its defaults and once with it off, each on a
 * server of its own (rate limits off in both, as behind a load balancer). Shedding should refuse
 * the excess cheaply without costing holds. A probe polls /health and /ready as a load balancer
 * would, on each server's management port, which should answer quickly throughout, and on its
 * main port beside it, whose answers wait for the busy event loop.
 */

const phase = 'stampede'
// Shedding off: every OVERLOAD_* setting 0, whichever the server has.
const noShedding = Object.fromEntries(Object.keys(ConfigSchema.properties).filter((key) => key.startsWith('OVERLOAD_')).map((key) => [key, '0']))
const runs = {
  default: {},
  'shedding off': noShedding
}
type RunName = keyof typeof runs

/** The process's open-file limit (each connection is a file on both sides); undefined without /proc. */
async function openFileLimit (): Promise<number | undefined> {
  const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '')
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1]
  return soft === undefined ? undefined : soft === 'unlimited' ? Infinity : Number(soft)
}

type StampedeServer = ApiServer & { management: string }

/** A server of the stampede, with a management port for the probe. */
async function startStampedeServer (bench: Bench, settings: Record<string, string>): Promise<StampedeServer> {
  const port = await freePort()
  const server = await startApi(bench.databaseUrl, { ...settings, MANAGEMENT_PORT: String(port), MANAGEMENT_HOST: '127.0.0.1' })
  return { ...server, management: `http://127.0.0.1:${port}` }
}

const probedPorts = ['management port', 'main port'] as const

async function stampedeRun (bench: Bench, server: StampedeServer, name: RunName, clients: number) {
  // The probe starts (a process, which takes a moment) while the server warms up.
  const [probe] = await Promise.all([
    startProbe({ 'management port': server.management, 'main port': server.base }),
    warmUp(server.base, `${phase}, ${name}: warm-up`)
  ])
  const seats = scaled(largestShow)
  const showId = await createShow(server.base, `bench: ${phase}, ${name}`, seats)
  say(`› ${phase}, ${name}: ${clients} connections holding 2 seats each on ${seats} seats for ${seconds} s, /health and /ready polled`)
  // When each 201 came, from the start of the run.
  const heldAtMs: number[] = []
  probe.measure()
  const rss = rssMeter(server.pid)
  const cpuBefore = await cpuMs(server.pid)
  // The generator's own event-loop lag: when it is high, the generator, not the server, set the pace.
  const generatorLag = monitorEventLoopDelay({ resolution: 10 })
  generatorLag.enable()
  const sale = await rss.during(name, async () => await timedSale(server.base, showId, {
    connections: clients,
    // A hold may wait for its answer as long as the run and its drain last, so that all the server made are counted.
    timeoutSeconds: seconds + drainLimitSeconds,
    answered: ({ status, atMs }) => { if (status === 201) heldAtMs.push(atMs) }
  }))
  const cpuAfter = await cpuMs(server.pid)
  generatorLag.disable()
  const probed = await probe.stop()
  await server.stop()
  const invariants = await saleInvariants({ base: bench.base, db: bench.db }, showId, seats, sale.holds, sale.errors)
  // Holds count up to the sell-out when it sold out in time, else up to the deadline: not the late
  // answers that come while the connections drain.
  const soldOut = invariants.availability.available < 2 && sale.lastHeldSeconds <= seconds
  const windowMs = soldOut ? sale.lastHeldSeconds * 1000 : seconds * 1000
  const heldInWindow = heldAtMs.filter((atMs) => atMs <= windowMs).length
  const heldIn = new Set(heldAtMs.map((atMs) => Math.floor(atMs / 1000)))
  const window = Math.ceil(windowMs / 1000)
  const secondsWithout201 = Array.from({ length: window }, (_, second) => second).filter((second) => !heldIn.has(second)).length
  const refused = Object.entries(sale.statuses).filter(([key]) => key.startsWith('503')).reduce((sum, [, count]) => sum + count, 0)
  return {
    name,
    clients,
    seats,
    showId,
    soldOut,
    window,
    secondsWithout201,
    heldInWindow,
    refused,
    refusedShare: sale.requests > 0 ? round(refused / sale.requests, 3) : 0,
    serverCpuMs: cpuBefore === undefined || cpuAfter === undefined ? undefined : round(cpuAfter - cpuBefore, 0),
    generatorLagMs: { p99: round(generatorLag.percentile(99) / 1e6, 1), max: round(generatorLag.max / 1e6, 1) },
    peakRssMb: round(Math.max(0, ...Object.values(rss.peakKbByPhase)) / 1024, 1),
    probed,
    ...sale,
    holdsPerSecond: windowMs > 0 ? round(heldInWindow / (windowMs / 1000), 1) : 0,
    invariants
  }
}

type Run = Awaited<ReturnType<typeof stampedeRun>>

async function stampede (bench: Bench) {
  const clients = scaled(2_000)
  const limit = await openFileLimit()
  // Both the generator and the server hold a socket per client, next to their other files.
  const needed = clients + 256
  if (limit !== undefined && limit < needed) {
    say(`› ${phase}: skipped, the open-file limit is ${limit} and ${clients} connections need ${needed}: raise it with ulimit -n`)
    return { skipped: `open-file limit ${limit} < ${needed}` }
  }
  // Both servers start at once; each runs alone, and stops once its run is done.
  const [shedding, unshed] = await Promise.all([startStampedeServer(bench, runs.default), startStampedeServer(bench, runs['shedding off'])])
  const withDefaults = await stampedeRun(bench, shedding, 'default', clients)
  const sheddingOff = await stampedeRun(bench, unshed, 'shedding off', clients)
  return { default: withDefaults, sheddingOff, cpuPerAnswerMs: cpuPerAnswer(withDefaults, sheddingOff) }
}

/**
 * What an answer costs the server in CPU time, from the process's CPU time over each run. With
 * shedding off nearly every answer is a hold (the rest are the 409s after a sell-out); the default
 * run's CPU time, less that much per answer other than a 503, is put down to its 503s. An
 * estimate: it counts the answers after the deadline that only drain the connections as free.
 */
function cpuPerAnswer (withDefaults: Run, sheddingOff: Run): { hold: number, shed503?: number } | undefined {
  if (withDefaults.serverCpuMs === undefined || sheddingOff.serverCpuMs === undefined || sheddingOff.requests === 0) return undefined
  const hold = sheddingOff.serverCpuMs / sheddingOff.requests
  const rest = withDefaults.serverCpuMs - hold * (withDefaults.requests - withDefaults.refused)
  return { hold: round(hold, 3), ...(withDefaults.refused > 0 && { shed503: round(rest / withDefaults.refused, 3) }) }
}

type Stampede = Awaited<ReturnType<typeof stampede>>

const probeText = (probed: Probed): string =>
  Object.keys(probed.notOk).length === 0 ? `never (${probed.polls} polls)` : Object.entries(probed.notOk).map(([status, count]) => `${count} x ${status}`).join(', ')

function probeRows (label: string, port: string, { health, ready }: ProbeResults, targeted: boolean): Row[] {
  const aim = (target: string, pass: boolean): Pick<Row, 'target' | 'pass'> => targeted ? { target, pass } : { target: '' }
  return [
    {
      phase: label,
      metric: `/health max latency (ms), ${port}`,
      value: Object.keys(health.notOk).length === 0 ? String(health.maxMs) : `${health.maxMs} (not 200: ${probeText(health)})`,
      ...aim(`<= ${targets.probeMaxMs}`, health.maxMs <= targets.probeMaxMs)
    },
    { phase: label, metric: `/ready max latency (ms), ${port}`, value: String(ready.maxMs), ...aim(`<= ${targets.probeMaxMs}`, ready.maxMs <= targets.probeMaxMs) },
    { phase: label, metric: `/ready not 200, ${port}`, value: probeText(ready), ...aim('never', Object.keys(ready.notOk).length === 0) }
  ]
}

function runRows (run: Run, targeted: boolean): Row[] {
  const label = `${phase}, ${run.name}`
  return [
    { phase: label, metric: `holds/s (201s per second to the sell-out or deadline), ${run.clients} clients`, value: String(run.holdsPerSecond), target: '' },
    { phase: label, metric: 'share of 503s', value: `${round(run.refusedShare * 100)} % (${run.refused} of ${run.requests})`, target: '' },
    { phase: label, metric: 'seconds without a 201', value: `${run.secondsWithout201} of ${run.window}${run.soldOut ? ' (to the sell-out)' : ''}`, target: '' },
    { phase: label, metric: 'p99 latency of 201s (ms)', value: String(run.latencyMs.p99), target: '' },
    { phase: label, metric: '201s / non-2xx / errors / timeouts', value: `${run.holds} / ${run.non2xx} / ${run.errors} / ${run.timeouts}`, target: '' },
    // The management port is what load balancers should poll; the main port is measured beside it.
    ...probedPorts.flatMap((port) => probeRows(label, port, run.probed[port], targeted && port === 'management port')),
    { phase: label, metric: 'server peak RSS (MB)', value: String(run.peakRssMb), target: '' },
    { phase: label, metric: 'load generator event-loop lag p99 / max (ms)', value: `${run.generatorLagMs.p99} / ${run.generatorLagMs.max}`, target: '' },
    ...invariantRows(label, run.invariants)
  ]
}

function stampedeRows (result: Stampede): Row[] {
  if ('skipped' in result) return [{ phase, metric: 'stampede', value: `skipped: ${result.skipped}`, target: '' }]
  const { default: withDefaults, sheddingOff, cpuPerAnswerMs } = result
  const share = sheddingOff.holdsPerSecond === 0 ? undefined : withDefaults.holdsPerSecond / sheddingOff.holdsPerSecond
  const aim = `>= ${targets.stampedeShare * 100} %`
  return [
    ...runRows(withDefaults, true),
    ...runRows(sheddingOff, false),
    share === undefined
      ? { phase, metric: "default holds/s, share of shedding off's", value: 'no holds with shedding off', target: aim }
      : { phase, metric: "default holds/s, share of shedding off's", value: `${round(share * 100)} %`, target: aim, pass: share >= targets.stampedeShare },
    {
      phase,
      metric: 'server CPU per hold / per shed 503 (ms)',
      value: cpuPerAnswerMs === undefined ? 'not measured' : `${cpuPerAnswerMs.hold} / ${cpuPerAnswerMs.shed503 ?? 'no 503s'}`,
      target: ''
    }
  ]
}

export const stampedePhase: Phase<Stampede> = {
  name: 'stampede',
  key: 'stampede',
  run: stampede,
  rows: stampedeRows
}
