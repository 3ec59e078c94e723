import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { BookingSubscriber } from '../events/booking-watch.ts'
import type { ShowSubscriber } from '../events/show-state.ts'

export const eventStreamType = 'text/event-stream'

/**
 * One Server-Sent Events response of live events: a show's availability, a booking or a queue ticket. Each event
 * carries the whole state, so whatever is not yet written (before `open`, or while the client
 * reads slower than the state changes) is simply replaced by the newer state: a slow client costs
 * one pending string, never a growing buffer. A final event is written, then the stream ends.
 */
export class EventStream implements ShowSubscriber, BookingSubscriber {
  readonly #response: ServerResponse
  #opened = false
  #blocked = false
  #ended = false
  /** The pending event is the last: end once it is written. */
  #last = false
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

  availability (json: string, id: string): void {
    this.#send(`id: ${id}\nevent: availability\ndata: ${json}\n\n`, false)
  }

  booking (json: string, id: string, final: boolean): void {
    this.#send(`id: ${id}\nevent: booking\ndata: ${json}\n\n`, final)
  }

  /** An event without an id (a queue ticket's place): the newest replaces one not yet written. */
  event (name: string, json: string): void {
    this.#send(`event: ${name}\ndata: ${json}\n\n`, false)
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

  #send (event: string, last: boolean): void {
    if (this.#ended || this.#last) return
    this.#pending = event
    this.#last = last
    if (this.#opened && !this.#blocked) this.#write(this.#takePending() ?? '')
  }

  #takePending (): string | undefined {
    const pending = this.#pending
    this.#pending = undefined
    return pending
  }

  /** Writes `chunk`; once the last event is written, ends (Node sends what is buffered first). */
  #write (chunk: string): void {
    if (this.#ended || this.#response.destroyed) return
    const flowing = this.#response.write(chunk)
    if (this.#last && this.#pending === undefined) {
      this.end()
      return
    }
    if (flowing) return
    this.#blocked = true
    this.#response.once('drain', () => {
      this.#blocked = false
      const pending = this.#takePending()
      if (pending !== undefined) this.#write(pending)
    })
  }
}
