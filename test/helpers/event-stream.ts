import type { Readable } from 'node:stream'
import type { Availability } from '../../api/index.ts'

export interface Received {
  at: number
  event?: string
  data?: Availability
  comment?: string
}

/** Parses a text/event-stream as it arrives; `waitFor` resolves with the first item that matches. */
export class EventReader {
  readonly items: Received[] = []
  #waiters: Array<{ match: (item: Received) => boolean, resolve: (item: Received) => void }> = []

  constructor (stream: Readable) {
    stream.setEncoding('utf8')
    let buffer = ''
    stream.on('data', (chunk: string) => {
      buffer += chunk
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        this.#add(buffer.slice(0, end))
        buffer = buffer.slice(end + 2)
      }
    })
    stream.on('error', () => {})
  }

  get availabilities (): Received[] {
    return this.items.filter((item) => item.event === 'availability')
  }

  async waitFor (match: (item: Received) => boolean, timeoutMs = 5_000): Promise<Received> {
    const found = this.items.find(match)
    if (found !== undefined) return found
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.items)}`)) }, timeoutMs)
      this.#waiters.push({ match, resolve: (item) => { clearTimeout(timer); resolve(item) } })
    })
  }

  #add (frame: string): void {
    const item: Received = { at: performance.now() }
    for (const line of frame.split('\n')) {
      if (line.startsWith(':')) item.comment = line.slice(1).trim()
      else if (line.startsWith('event: ')) item.event = line.slice(7)
      else if (line.startsWith('data: ')) item.data = JSON.parse(line.slice(6)) as Availability
    }
    this.items.push(item)
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.match(item)) return true
      waiter.resolve(item)
      return false
    })
  }
}

/** Matches an `availability` event whose counts include `expected`. */
export const isAvailability = (expected: Partial<Availability>) => (item: Received): boolean =>
  item.event === 'availability' && Object.entries(expected).every(([key, value]) => item.data?.[key as keyof Availability] === value)

