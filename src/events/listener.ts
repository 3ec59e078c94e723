import type pg from 'pg'
import { createPool } from '../db/database.ts'
import type { Log } from '../background-log.ts'

export interface ListenerOptions {
  /** Not a transaction-mode PgBouncer: LISTEN needs a session of its own. */
  url: string
  ssl?: boolean
  /** A constant identifier; it is written into the LISTEN statement as is. */
  channel: string
  onNotification: (payload: string) => void
  /** The connection is (again) listening: notifications sent while it was not are lost. */
  onListening: () => void
  log: Log
  minRetryMs?: number
  maxRetryMs?: number
  probeTimeoutMs?: number
}

export interface Listener {
  /** Connects, unless connected or connecting already. */
  start: () => void
  /** Checks that the connection still answers, and replaces it when it does not. */
  probe: () => void
  listening: () => boolean
  close: () => Promise<void>
}

/**
 * One dedicated connection running LISTEN `channel`, reconnecting with exponential backoff when it
 * drops. It comes from a pool of one made by createPool, so that it reaches the database exactly as
 * the application's pool does (sslmode, PGSSL, timeouts).
 */
export function createListener (options: ListenerOptions): Listener {
  const { channel, log, minRetryMs = 100, maxRetryMs = 1_000, probeTimeoutMs = 5_000 } = options
  const pool = createPool({ url: options.url, ssl: options.ssl, poolMax: 1, applicationName: 'booking-api-listen' })
  let client: pg.PoolClient | undefined
  let connecting = false
  let retryTimer: NodeJS.Timeout | undefined
  let retryMs = minRetryMs
  let probing = false
  let lostOnce = false
  let closed = false
  const released = new WeakSet<pg.PoolClient>()

  function discard (connection: pg.PoolClient, error?: Error): void {
    if (released.has(connection)) return
    released.add(connection)
    connection.release(error ?? true)
  }

  function retry (): void {
    if (closed || retryTimer !== undefined) return
    // Jitter, so that the processes of a deployment do not all reconnect in the same instant.
    const delay = retryMs * (0.5 + Math.random() / 2)
    retryMs = Math.min(retryMs * 2, maxRetryMs)
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      void connect()
    }, delay)
    retryTimer.unref()
  }

  function lost (connection: pg.PoolClient, error?: Error): void {
    if (connection !== client) return
    client = undefined
    discard(connection, error)
    if (closed) return
    lostOnce = true
    log.warn({ err: error }, 'the LISTEN connection was lost; reconnecting')
    retry()
  }

  async function connect (): Promise<void> {
    if (closed || connecting || client !== undefined) return
    connecting = true
    let connection: pg.PoolClient | undefined
    try {
      connection = await pool.connect()
      const current = connection
      current.on('error', (error) => { lost(current, error) })
      current.on('end', () => { lost(current) })
      current.on('notification', (message) => {
        if (message.channel === channel && message.payload !== undefined) options.onNotification(message.payload)
      })
      await current.query(`LISTEN ${channel}`)
    } catch (error) {
      connecting = false
      if (connection !== undefined) discard(connection, error as Error)
      if (!closed) log.warn({ err: error }, 'could not LISTEN for show changes; retrying')
      retry()
      return
    }
    connecting = false
    if (closed) {
      discard(connection)
      return
    }
    client = connection
    retryMs = minRetryMs
    if (lostOnce) log.info({}, 'listening for show changes again')
    options.onListening()
  }

  return {
    start () {
      // While waiting to retry, the backoff decides, not the next subscriber.
      if (retryTimer === undefined) void connect()
    },
    listening: () => client !== undefined,
    probe () {
      const connection = client
      if (connection === undefined || probing) return
      probing = true
      // A connection that silently went away (a failover, a dropped NAT entry) would otherwise look
      // alive for as long as TCP takes to notice: minutes of missed notifications.
      const timeout = setTimeout(() => { lost(connection, new Error(`the LISTEN connection did not answer within ${probeTimeoutMs} ms`)) }, probeTimeoutMs)
      connection.query('SELECT 1').then(
        () => {},
        (error: Error) => { lost(connection, error) }
      ).finally(() => {
        clearTimeout(timeout)
        probing = false
      })
    },
    async close () {
      closed = true
      clearTimeout(retryTimer)
      retryTimer = undefined
      if (client !== undefined) {
        const connection = client
        client = undefined
        discard(connection)
      }
      await pool.end()
    }
  }
}
