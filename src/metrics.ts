import cluster from 'node:cluster'
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { PoolStats } from './db/database.ts'
import type { EngineObserver } from './engine/index.ts'

export interface MetricsSources {
  pool: () => PoolStats
  /** Live-availability streams open in this process. */
  subscribers: () => number
  /** Booking streams open in this process. */
  bookingSubscribers: () => number
  /** Holds waiting for their show's next hold statement. */
  holdsWaiting: () => number
  /** Waiting-room streams open in this process. */
  queueStreams: () => number
}

/** A room not read for this long is left out of the room gauges (its sale is over, or elsewhere). */
const roomStaleMs = 60_000

/**
 * The process's Prometheus metrics, in a registry of its own (several apps can share a process in
 * tests). A cluster worker hands its registry to the primary, which sums the workers' for a scrape
 * (see clusterMetrics); separate instances are summed by Prometheus.
 */
export function createMetrics (sources: MetricsSources) {
  const registry = new Registry()
  // Includes nodejs_eventloop_lag_seconds and its percentiles, heap, GC and handles.
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  if (cluster.isWorker) {
    // Constructing one is what makes prom-client answer the primary's requests for this worker's metrics.
    void new AggregatorRegistry()
    AggregatorRegistry.setRegistries([registry])
  }

  const requests = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by route template and status, from arrival to the last byte sent',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers
  })
  const operations = new Counter({
    name: 'booking_operations_total',
    help: 'Holds, confirms, cancels and extensions by outcome: ok, or the problem code that refused them (insufficient_seats, hold_expired, ...)',
    labelNames: ['operation', 'outcome'],
    registers
  })
  const expired = new Counter({ name: 'booking_holds_expired_total', help: 'Lapsed holds the sweep marked EXPIRED', registers })
  const sweepSeconds = new Histogram({
    name: 'expiry_sweep_duration_seconds',
    help: 'How long each expiry sweep took',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers
  })
  const sweepSize = new Histogram({
    name: 'expiry_sweep_expired_holds',
    help: 'Holds expired per sweep (its batch size in effect)',
    buckets: [0, 1, 10, 50, 100, 500, 1000, 5000],
    registers
  })
  new Gauge({
    name: 'db_pool_connections',
    help: 'Database pool: open connections (total), idle ones, and requests waiting for one',
    labelNames: ['state'],
    registers,
    collect () {
      const pool = sources.pool()
      this.set({ state: 'total' }, pool.total)
      this.set({ state: 'idle' }, pool.idle)
      this.set({ state: 'waiting' }, pool.waiting)
    }
  })
  const holdsPerStatement = new Histogram({
    name: 'booking_hold_statement_holds',
    help: 'Quantity holds placed together per batch: above 1 when holds of one show arrive faster than one batch runs',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers
  })
  new Gauge({
    name: 'booking_holds_waiting',
    help: 'Holds waiting for their show\'s next hold statement',
    registers,
    collect () { this.set(sources.holdsWaiting()) }
  })
  new Gauge({
    name: 'sse_subscribers',
    help: 'Open live-availability streams (GET /shows/{id}/events)',
    registers,
    collect () { this.set(sources.subscribers()) }
  })
  new Gauge({
    name: 'sse_booking_subscribers',
    help: 'Open booking streams (GET /bookings/{id}/events)',
    registers,
    collect () { this.set(sources.bookingSubscribers()) }
  })

  // The rooms this process read lately. Every process computes the same figures from the
  // database, so a cluster's primary takes the largest of its workers' (the freshest), not the sum.
  const rooms = new Map<string, { waiting: number, admitted: number, admitPerMinute: number | null, at: number }>()
  const roomGauge = (name: string, help: string, value: (room: { waiting: number, admitted: number, admitPerMinute: number | null }) => number) => new Gauge({
    name,
    help,
    labelNames: ['show_id'],
    aggregator: 'max',
    registers,
    collect () {
      this.reset()
      const now = Date.now()
      for (const [showId, room] of rooms) {
        if (now - room.at > roomStaleMs) rooms.delete(showId)
        else this.set({ show_id: showId }, value(room))
      }
    }
  })
  roomGauge('waiting_room_queue_length', 'Buyers waiting in a show\'s queue, not admitted yet', (room) => room.waiting)
  roomGauge('waiting_room_admitted', 'Buyers admitted from a show\'s queue so far: its rate() times 60 is the admitted per minute', (room) => room.admitted)
  roomGauge('waiting_room_admit_per_minute', 'The admission rate set for a show\'s queue; 0 while switched off', (room) => room.admitPerMinute ?? 0)
  const refusals = new Counter({
    name: 'waiting_room_admission_refusals_total',
    help: 'Holds refused for their Admission-Token while a waiting room is on: missing, forged, other_show, expired (403 admission_required) or in_use (409 admission_in_use)',
    labelNames: ['reason'],
    registers
  })
  new Gauge({
    name: 'waiting_room_streams',
    help: 'Open waiting-room streams (GET /shows/{id}/queue/{ticket}/events)',
    registers,
    collect () { this.set(sources.queueStreams()) }
  })

  const observer: Required<Pick<EngineObserver, 'operationEnded' | 'sweepEnded' | 'holdBatchStarted' | 'roomRead' | 'admissionRefused'>> = {
    operationEnded: (operation, outcome) => {
      operations.inc({ operation, outcome })
      if (outcome === 'admission_in_use') refusals.inc({ reason: 'in_use' })
    },
    roomRead: (showId, state) => { rooms.set(showId, { ...state, at: Date.now() }) },
    admissionRefused: (reason) => { refusals.inc({ reason }) },
    holdBatchStarted: (holds) => { holdsPerStatement.observe(holds) },
    sweepEnded: (result, seconds) => {
      expired.inc(result.expired)
      sweepSeconds.observe(seconds)
      sweepSize.observe(result.expired)
    }
  }

  return {
    registry,
    observer,
    requestEnded: (method: string, route: string, status: number, seconds: number): void => {
      requests.observe({ method, route, status_code: String(status) }, seconds)
    }
  }
}

export type Metrics = ReturnType<typeof createMetrics>
