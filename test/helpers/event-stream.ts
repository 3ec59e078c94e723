import type { Readable } from 'node:stream'
import type { Availability } from '../../api/index.ts'

export interface Received<Data = Availability> {
  at: number
  id?: string
  event?: string
  data?: Data
  comment?: string
}

/**
 * Parses a text/event-stream as it arrives; `waitFor` resolves with the first item that matches,
 * `ended` when the stream ends (with performance.now() then).
 */
export class EventReader<Data = Availability> {
  readonly items: Array<Received<Data>> = []
  readonly ended: Promise<number>
  #waiters: Array<{ match: (item: Received<Data>) => boolean, resolve: (item: Received<Data>) => void }> = []

  constructor (stream: Readable) {
    this.ended = new Promise((resolve) => { stream.on('end', () => { resolve(performance.now()) }) })
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

  get availabilities (): Array<Received<Data>> {
    return this.items.filter((item) => item.event === 'availability')
  }

  async waitFor (match: (item: Received<Data>) => boolean, timeoutMs = 5_000): Promise<Received<Data>> {
    const found = this.items.find(match)
    if (found !== undefined) return found
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.items)}`)) }, timeoutMs)
      this.#waiters.push({ match, resolve: (item) => { clearTimeout(timer); resolve(item) } })
    })
  }

  #add (frame: string): void {
    const item: Received<Data> = { at: performance.now() }
    for (const line of frame.split('\n')) {
      if (line.startsWith(':')) item.comment = line.slice(1).trim()
      else if (line.startsWith('id: ')) item.id = line.slice(4)
      else if (line.startsWith('event: ')) item.event = line.slice(7)
      else if (line.startsWith('data: ')) item.data = JSON.parse(line.slice(6)) as Data
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

