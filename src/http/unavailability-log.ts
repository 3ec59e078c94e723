import type { FastifyBaseLogger } from 'fastify'

/**
 * Logs that requests are answered 503 service_unavailable because the database is not answering.
 * An outage fails every request, and an error line with a stack for each one buried the log (tens
 * of thousands of lines for a few seconds' outage) while telling nothing new: this logs a warning
 * without a stack at most once per `intervalMs`, with how many such answers it left unlogged.
 */
export function unavailabilityLog (log: FastifyBaseLogger, intervalMs = 10_000): (error: Error & { code?: string }) => void {
  let loggedAt = -Infinity
  let unlogged = 0
  return (error) => {
    const now = performance.now()
    if (now - loggedAt < intervalMs) {
      unlogged++
      return
    }
    log.warn({ cause: { code: error.code, message: error.message }, unloggedSinceLast: unlogged }, 'the database is not answering: requests get 503 service_unavailable')
    loggedAt = now
    unlogged = 0
  }
}
