import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { DatabaseOptions } from '../db/database.ts'
import { createMainThreadState } from './main-thread-state.ts'

/** How often the main thread's event loop marks that it turned. */
const heartbeatMs = 100
/**
 * How long the main thread may go without a heartbeat before /health calls it dead: far above the
 * event loop's lag under a sale, well within what a liveness probe waits before restarting.
 */
export const staleHeartbeatMs = 5_000
/** How long the thread may take to close its server and connection before it is terminated. */
const stopMs = 1_000

export interface ManagementThreadData {
  port: number
  host: string
  state: SharedArrayBuffer
  staleAfterMs: number
  database: Pick<DatabaseOptions, 'url' | 'ssl' | 'preparedStatements'>
}

export type ThreadMessage =
  | { kind: 'listening', port: number }
  | { kind: 'database-failed', error: { message: string, code?: string } }

export interface ManagementLog {
  warn: (details: object, message: string) => void
  error: (details: object, message: string) => void
}

export interface ManagementPortOptions extends Omit<ManagementThreadData, 'state' | 'staleAfterMs'> {
  log: ManagementLog
  /** staleHeartbeatMs unless a test shortens it. */
  staleAfterMs?: number
}

export interface ManagementPort {
  /** The port it listens on: the one asked for, or the one the system picked for 0. */
  port: number
  /** The main port listens: /ready may answer 200 from now on. */
  serving: () => void
  /** Shutdown began: /ready answers 503 from now on. */
  draining: () => void
  /** Closes the port and ends its thread. */
  stop: () => Promise<void>
}

// The thread's module beside this one, as TypeScript under tsx or as the build's JavaScript.
const threadModule = new URL(`./management-thread${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url)

/**
 * Starts the management port: a worker thread answering /health and /ready, so that a main thread
 * saturated by a sale does not make a healthy node look dead or unready. The main thread's event
 * loop beats into shared memory; the thread answers /health from that beat, and /ready from its
 * own database connection and the phase the main thread shares. Resolves once the port listens;
 * rejects when it cannot be opened. Once started, the thread failing is logged and never ends
 * the process.
 */
export async function startManagementPort (options: ManagementPortOptions): Promise<ManagementPort> {
  const state = createMainThreadState()
  const beating = setInterval(state.beat, heartbeatMs).unref()
  const { log, staleAfterMs = staleHeartbeatMs, ...settings } = options
  const data: ManagementThreadData = { ...settings, state: state.buffer, staleAfterMs }
  const worker = new Worker(threadModule, { workerData: data })
  // The process ends when the server is done, whatever the thread is doing.
  worker.unref()
  // Not events.once: that would reject on the thread's 'error', which the listeners below report.
  const exited = new Promise<void>((resolve) => worker.once('exit', () => { resolve() }))
  let started = false
  let stopping = false

  const listening = new Promise<number>((resolve, reject) => {
    worker.on('message', (message: ThreadMessage) => {
      if (message.kind === 'listening') {
        started = true
        resolve(message.port)
      } else {
        log.warn({ err: message.error, port: 'management' }, 'readiness check: database not answering')
      }
    })
    worker.on('error', (error) => {
      if (!started) reject(error)
      else log.error({ err: error }, 'the management port\'s thread failed')
    })
    worker.on('exit', (code) => {
      if (!started) reject(new Error(`its thread exited (${code})`))
      else if (!stopping) log.error({ code }, 'the management port\'s thread exited; /health and /ready now answer on the main port only')
    })
  })

  let port: number
  try {
    port = await listening
  } catch (error) {
    clearInterval(beating)
    throw new Error(`the management port ${options.host}:${options.port} could not be opened: ${(error as Error).message}`, { cause: error })
  }

  return {
    port,
    serving: () => { state.enter('serving') },
    draining: () => { state.enter('draining') },
    async stop () {
      stopping = true
      clearInterval(beating)
      worker.postMessage('stop')
      const overdue = setTimeout(() => { void worker.terminate() }, stopMs)
      await exited
      clearTimeout(overdue)
    }
  }
}
