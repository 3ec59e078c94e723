import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { ShowSubscriber } from '../events/show-state.ts'

export const eventStreamType = 'text/event-stream'

/**
 * One Server-Sent Events response of live availability. Each event carries the whole counts, so
 * whatever is not yet written (before `open`, or while the client reads slower than the counts
 * change) is simply replaced by the newer counts: a slow client costs one pending string, never a
 * growing buffer.
 */
export class AvailabilityStream implements ShowSubscriber {
  readonly #response: ServerResponse
  #opened = false
  #blocked = false
  #ended = false
  #pending: string | undefined

  constructor (response: ServerResponse) {
    this.#response = response
  }

  /** Sends the head (with `headers`, e.g. those set by hooks) and what arrived before it. */
  open (headers: OutgoingHttpHeaders = {}): void {
    if (this.#opened) return
    this.#opened = true
    if (this.#response.destroyed) return
    this.#response.writeHead(200, {
      ...headers,
      'content-type': eventStreamType,
      'cache-control': 'no-cache, no-transform',
      // nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no'
    })
    if (this.#ended) {
      this.#response.end()
      return
    }
    const pending = this.#takePending()
    // Without a write, Node would hold the head back until the first event.
    if (pending === undefined) this.#response.flushHeaders()
    else this.#write(pending)
  }

  availability (json: string): void {
    this.event('availability', json)
  }

  /** An event that replaces whatever of the stream's events is not written yet. */
  event (name: string, json: string): void {
    const event = `event: ${name}\ndata: ${json}\n\n`
    if (!this.#opened || this.#blocked) this.#pending = event
    else this.#write(event)
  }

  keepAlive (): void {
    if (this.#opened && !this.#blocked) this.#write(': keep-alive\n\n')
  }

  close (): void {
    this.end()
  }

  end (): void {
    if (this.#ended) return
    this.#ended = true
    this.#pending = undefined
    if (this.#opened && !this.#response.destroyed) this.#response.end()
  }

  #takePending (): string | undefined {
    const pending = this.#pending
    this.#pending = undefined
    return pending
  }

  #write (chunk: string): void {
    if (this.#ended || this.#response.destroyed) return
    if (this.#response.write(chunk)) return
    this.#blocked = true
    this.#response.once('drain', () => {
      this.#blocked = false
      const pending = this.#takePending()
      if (pending !== undefined) this.#write(pending)
    })
  }
}
