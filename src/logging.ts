import type { FastifyServerOptions } from 'fastify'

/**
 * The server's logger. Request lines carry method, url and addresses only, never headers; the
 * redaction is for anything that logs a request's headers anyway (an error with its request,
 * a debug line), so that admin tokens cannot reach the logs.
 */
export function loggerOptions (level: string, stream?: NodeJS.WritableStream): NonNullable<FastifyServerOptions['logger']> {
  return {
    level,
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'req.headers.cookie', 'headers.cookie'], censor: '[redacted]' },
    ...(stream !== undefined && { stream })
  }
}
