import type { IncomingMessage } from 'node:http'

/** What an incoming X-Request-Id may be: short, and nothing that could forge a log line or a header. */
const acceptable = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * The request's id, as logged (`reqId`) and answered in X-Request-Id: the one a proxy or client
 * sent when it is acceptable, so that their logs and ours can be joined, else a new UUID.
 */
export function requestId (request: IncomingMessage): string {
  const sent = request.headers['x-request-id']
  return typeof sent === 'string' && acceptable.test(sent) ? sent : crypto.randomUUID()
}
