import { stopTimers, newShowState, type Member, type ShowState } from './show-state.ts'

/**
 * The shows with subscribers in this process. A show's state lives exactly as long as it has
 * subscribers; `emptied` is told when the last show goes.
 */
export function createShowRegistry (emptied: () => void) {
  const shows = new Map<string, ShowState>()
  let subscribers = 0

  function drop (state: ShowState): void {
    if (shows.get(state.id) !== state) return
    shows.delete(state.id)
    stopTimers(state)
    subscribers -= state.members.size
    state.members.clear()
    if (shows.size === 0) emptied()
  }

  return {
    get: (showId: string): ShowState | undefined => shows.get(showId),
    /** False once the state was dropped (a later subscriber gets a new one). */
    isCurrent: (state: ShowState): boolean => shows.get(state.id) === state,
    all: (): ShowState[] => [...shows.values()],
    subscriberCount: (): number => subscribers,
    showCount: (): number => shows.size,

    /** Adds `member` to the show's state, made for it when the show had no subscriber. */
    join (showId: string, member: Member): { state: ShowState, isNew: boolean } {
      const existing = shows.get(showId)
      const state = existing ?? newShowState(showId)
      if (existing === undefined) shows.set(showId, state)
      state.members.add(member)
      subscribers++
      return { state, isNew: existing === undefined }
    },

    /** Idempotent; the last member's leaving drops the show. */
    leave (state: ShowState, member: Member): void {
      if (!state.members.delete(member)) return
      subscribers--
      if (state.members.size === 0) drop(state)
    },

    drop
  }
}

export type ShowRegistry = ReturnType<typeof createShowRegistry>
