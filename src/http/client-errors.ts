import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { problem, problemContentType } from './problems.ts'
import type { Problem } from '../../api/index.ts'

function clientProblem (code: string | undefined): Problem {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return problem('request_timeout', 'The request was not received in time')
  if (code === 'HPE_HEADER_OVERFLOW') return problem('headers_too_large', 'The request line and headers are larger than this API accepts (16 KiB)')
  if (code === 'HPE_INVALID_METHOD') return problem('bad_request', 'The request method is not one this API knows')
  return problem('bad_request', 'The request is not valid HTTP')
}

/**
 * Node's HTTP parser refuses some requests before Fastify sees them (headers too large, control
 * bytes in a header, an unknown method, a request not received within requestTimeout). They get a
 * problem like every other answer, written straight to the socket, which is then closed: what
 * follows on it cannot be parsed.
 */
export function answerClientError (this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  this.log.debug({ err: error }, 'refused an unparseable request')
  if (socket.writable) {
    const body = clientProblem(error.code)
    const json = JSON.stringify(body)
    socket.write(`HTTP/1.1 ${body.status} ${STATUS_CODES[body.status] ?? ''}\r\nContent-Type: ${problemContentType}\r\n` +
      `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`)
  }
  socket.destroy(error)
}
