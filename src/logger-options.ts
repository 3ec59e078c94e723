import type { FastifyRequest, FastifyServerOptions } from 'fastify'

/** A booking's id is what lets its holder read, confirm or cancel it: logs must not carry it. */
const bookingId = /(\/bookings\/)[^/?#]+/

/**
 * The server's logger. Request lines carry method, url (without booking ids) and addresses, never
 * headers; the redaction is for anything that logs a request's headers anyway (an error with its
 * request, a debug line), so that admin tokens cannot reach the logs.
 */
export function loggerOptions (level: string, stream?: NodeJS.WritableStream): NonNullable<FastifyServerOptions['logger']> {
  return {
    level,
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'req.headers.cookie', 'headers.cookie'], censor: '[redacted]' },
    serializers: {
      req: (request: FastifyRequest) => ({
        method: request.method,
        url: request.url.replace(bookingId, '$1[redacted]'),
        host: request.host,
        remoteAddress: request.ip,
        remotePort: request.socket?.remotePort
      })
    },
    ...(stream !== undefined && { stream })
  }
}
