import { createShow, holdOf } from '../api.ts'
import { load } from '../load.ts'
import { say, scaled, seconds } from '../settings.ts'

/**
 * A server in production has its connections open, its statements prepared and its code compiled
 * by the time sales open; a measurement that starts cold reports the first second's warm-up as
 * tail latency (and, for a burst of a few seconds, a lower rate). Two seconds of holds on another
 * show, not measured, put the server in that state.
 */
export async function warmUp (base: string, label = 'warm-up'): Promise<void> {
  const warmSeconds = Math.min(2, seconds)
  const showId = await createShow(base, `bench: ${label}`, scaled(20_000))
  say(`› ${label}: ${warmSeconds} s of holds on another show, not measured`)
  await load(base, { connections: 64, seconds: warmSeconds, next: () => ({ out: holdOf(showId, 2), tag: undefined }) })
}

/** The same for joins: two seconds of them on the queue of another show whose sale opens in an hour. */
export async function warmUpJoins (base: string, label: string): Promise<void> {
  const warmSeconds = Math.min(2, seconds)
  const showId = await createShow(base, `bench: ${label}`, 10, {
    sales_open_at: new Date(Date.now() + 3_600_000).toISOString(),
    waiting_room: { admit_per_minute: 1 }
  })
  say(`› ${label}: ${warmSeconds} s of joins on another show's queue, not measured`)
  await load(base, { connections: 64, seconds: warmSeconds, next: () => ({ out: { method: 'POST', path: `/shows/${showId}/queue` }, tag: undefined }) })
}
