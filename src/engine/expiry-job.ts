import type { Log } from '../background-log.ts'
import type { BookingEngine } from './index.ts'

/**
 * Runs the sweep every `intervalSeconds` until stopped. Runs never overlap within a process, and
 * the sweep itself is safe to run in many processes at once. A failed run is logged and retried
 * at the next tick: expiry is exact without it, so a missed sweep only delays housekeeping.
 */
export function startExpiryJob (engine: Pick<BookingEngine, 'sweepExpiredHolds' | 'forgetOldIdempotencyKeys'>, intervalSeconds: number, log: Log) {
  let running: Promise<void> | undefined
  const tick = (): void => {
    if (running !== undefined) return
    running = (async () => {
      const swept = await engine.sweepExpiredHolds()
      const forgotten = await engine.forgetOldIdempotencyKeys()
      if (swept.expired > 0 || forgotten > 0) log.info({ ...swept, forgottenKeys: forgotten }, 'expiry sweep')
    })().catch((error: unknown) => log.warn({ err: error }, 'expiry sweep failed; retrying at the next tick'))
      .finally(() => { running = undefined })
  }
  const timer = setInterval(tick, intervalSeconds * 1000)
  timer.unref()
  return {
    /** Stops the timer and waits for a sweep in progress to finish. */
    stop: async () => {
      clearInterval(timer)
      await running
    }
  }
}
