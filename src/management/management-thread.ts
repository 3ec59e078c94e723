/**
 * The management port's thread (management-port.ts starts it): answers /health and /ready on a
 * port of its own, from what the main thread shares and from a database connection of its own,
 * so that a main thread busy with a sale does not delay the answers.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parentPort, workerData } from 'node:worker_threads'
import { readinessCheck, readinessDatabase } from '../db/readiness.ts'
import { problem } from '../http/problem-document.ts'
import { readinessProblem } from '../http/readiness-problem.ts'
import type { ManagementThreadData, ThreadMessage } from './management-port.ts'
import { viewMainThreadState } from './main-thread-state.ts'
import { answerProbes } from './probe-answers.ts'

const data = workerData as ManagementThreadData
const channel = parentPort
if (channel === null) throw new Error('management-thread.ts runs as a worker thread')
const tell = (message: ThreadMessage): void => { channel.postMessage(message) }

const mainThread = viewMainThreadState(data.state)
const { db } = readinessDatabase({ ...data.database, applicationName: 'booking-api-management' })
const pendingMigrations = readinessCheck(db)

// The main thread is alive while its event loop keeps beating; a stopped one cannot serve, so it
// is not ready either.
function health () {
  const ms = mainThread.msSinceBeat()
  return ms > data.staleAfterMs ? problem('service_unavailable', `The main thread has not run for ${Math.round(ms)} ms`) : undefined
}

const server = createServer(answerProbes({
  health,
  ready: async () => {
    const phase = mainThread.phase()
    if (phase === 'starting') return problem('service_unavailable', 'The server is starting')
    return health() ?? await readinessProblem({
      draining: phase === 'draining',
      pendingMigrations,
      databaseFailed: (error) => {
        const { message, code } = error as { message?: unknown, code?: unknown }
        tell({ kind: 'database-failed', error: { message: String(message), ...(typeof code === 'string' && { code }) } })
      }
    })
  }
}))

// A port that cannot be opened is an uncaught error here, which the main thread reports.
server.once('error', (error) => { throw error })
server.listen(data.port, data.host, () => { tell({ kind: 'listening', port: (server.address() as AddressInfo).port }) })

channel.on('message', (message) => {
  if (message !== 'stop') return
  server.close()
  server.closeAllConnections()
  // With the server and the connection closed, closing the channel leaves the thread nothing to wait for.
  void db.destroy().finally(() => { channel.close() })
})
