/**
 * What the management port's thread knows of the main thread, in shared memory so that it can be
 * read while the main thread's event loop is busy: when that loop last turned (its heartbeat), and
 * where the server stands. Only the main thread writes; phases only move forward.
 */

const phases = ['starting', 'serving', 'draining'] as const
export type Phase = typeof phases[number]

// The heartbeat as a BigInt64 at byte 0 (process.hrtime: monotonic, and one clock for every
// thread of the process), the phase's index as an Int32 at byte 8.
const size = 16

export interface MainThreadState {
  readonly buffer: SharedArrayBuffer
  beat: () => void
  enter: (phase: Phase) => void
}

export function createMainThreadState (): MainThreadState {
  const buffer = new SharedArrayBuffer(size)
  const heartbeat = new BigInt64Array(buffer, 0, 1)
  const phase = new Int32Array(buffer, 8, 1)
  const beat = (): void => { Atomics.store(heartbeat, 0, process.hrtime.bigint()) }
  beat()
  return {
    buffer,
    beat,
    enter: (next) => {
      const index = phases.indexOf(next)
      if (index > Atomics.load(phase, 0)) Atomics.store(phase, 0, index)
    }
  }
}

export interface MainThreadView {
  msSinceBeat: () => number
  phase: () => Phase
}

export function viewMainThreadState (buffer: SharedArrayBuffer): MainThreadView {
  const heartbeat = new BigInt64Array(buffer, 0, 1)
  const phase = new Int32Array(buffer, 8, 1)
  return {
    msSinceBeat: () => Number(process.hrtime.bigint() - Atomics.load(heartbeat, 0)) / 1e6,
    phase: () => phases[Atomics.load(phase, 0)] ?? 'starting'
  }
}
