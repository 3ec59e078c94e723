/** One subscriber's end of a stream (an HTTP response, say). Its methods must not throw. */
export interface ShowSubscriber {
  /** The show's counts as one line of JSON, and the event's id; never the same counts twice in a row. */
  availability: (json: string, id: string) => void
  keepAlive: () => void
  /** The hub is closing: end the stream. */
  close: () => void
}

export interface Member {
  subscriber: ShowSubscriber
  last?: string
}

export interface Counted {
  json: string
  id: string
}

/** What a process knows of one show that has subscribers in it. */
export interface ShowState {
  id: string
  members: Set<Member>
  /** Settled by the first count. */
  exists: Promise<boolean>
  settle: (exists: boolean | Error) => void
  /** The last counts sent, and their event id: when they were taken (see readTime). */
  latest?: Counted
  /** When the last count started: the moment its numbers are from. */
  countedAt: number
  /**
   * When the last count was sent. The next starts `intervalMs` after it, not after the last start,
   * so that a slow count followed by a quick one cannot put two events closer than that.
   */
  sentAt: number
  counting: boolean
  /** Something may have changed since the last count started. */
  stale: boolean
  timer?: NodeJS.Timeout
  /** Recounts when the show's next hold ends: a lapse changes the counts without any write. */
  lapseTimer?: NodeJS.Timeout
}

/** A show nobody has counted yet: stale, and due at once. */
export function newShowState (id: string): ShowState {
  let settle: (exists: boolean | Error) => void = () => {}
  const exists = new Promise<boolean>((resolve, reject) => {
    settle = (outcome) => { if (outcome instanceof Error) reject(outcome); else resolve(outcome) }
  })
  // A count that fails before anyone awaits `found` must not be an unhandled rejection.
  exists.catch(() => {})
  return { id, members: new Set(), exists, settle, countedAt: -Infinity, sentAt: -Infinity, counting: false, stale: true }
}

/** Sends the counts to a member whose last counts differ. */
export function deliver (member: Member, { json, id }: Counted): void {
  if (member.last === json) return
  member.last = json
  member.subscriber.availability(json, id)
}

export function stopTimers (state: ShowState): void {
  clearTimeout(state.timer)
  state.timer = undefined
  clearTimeout(state.lapseTimer)
  state.lapseTimer = undefined
}
