import { createShow, holdOf } from '../api.ts'
import { load } from '../load.ts'
import { say, scaled, seconds } from '../settings.ts'

/**
 * A server in production has its connections open, its statements prepared and its code compiled
 * by the time sales open; a measurement that starts cold reports the first second's warm-up as
 * tail latency. Two seconds of holds on another show, not measured, put the server in that state.
 */
export async function warmUp (base: string, label = 'warm-up'): Promise<void> {
  const warmSeconds = Math.min(2, seconds)
  const showId = await createShow(base, `bench: ${label}`, scaled(20_000))
  say(`› ${label}: ${warmSeconds} s of holds on another show, not measured`)
  await load(base, { connections: 64, seconds: warmSeconds, next: () => ({ out: holdOf(showId, 2), tag: undefined }) })
}
