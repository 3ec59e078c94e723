import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

const pollMs = 20

/**
 * Waits, at most `limitMs`, until no connection of `server` has answer bytes still queued in this
 * process. Node's server.close() (which Fastify's close calls) destroys every connection whose
 * request was answered with res.end(), even while a large body is still queued for a client that
 * reads slowly: a 100,000-seat map in flight at shutdown reached its client cut short. Bytes
 * handed to the kernel are sent before the socket closes, so this is all a shutdown must wait for.
 */
export function trackUnsentAnswers (server: Server): (limitMs: number) => Promise<void> {
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  const unsent = (): boolean => [...sockets].some((socket) => socket.writableLength > 0)
  return async (limitMs) => {
    const until = Date.now() + limitMs
    while (unsent() && Date.now() < until) await sleep(pollMs)
  }
}
