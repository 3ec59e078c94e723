import { shuffledPlace } from './shuffle.ts'

/** One admission rate, in force from `since` (ms) until the next one's `since`. */
export interface RateSetting {
  since: number
  /** null: the room is switched off, everyone is admitted. */
  admitPerMinute: number | null
  /** How many were admitted by `since`. */
  admittedBefore: number
}

/** A waiting room as one read of the database sees it; times in ms of the database's clock. */
export interface Room {
  showId: string
  now: number
  opensAt: number
  startsAt: number
  joined: number
  joinedBeforeOpening: number
  seed: Uint8Array
  /** In the order they were set. */
  settings: RateSetting[]
}

/**
 * How many have been admitted by `at`: the admitted count of the setting in force plus its rate
 * times the time since its start (admission starts at the opening). Infinity while switched off.
 * Nothing here runs in the background: every process computes the same answer from the same rows.
 */
export function admittedBy (room: Room, at: number): number {
  let setting: RateSetting | undefined
  for (const candidate of room.settings) if (candidate.since <= at) setting = candidate
  if (setting === undefined) return 0
  if (setting.admitPerMinute === null) return Infinity
  const from = Math.max(setting.since, room.opensAt)
  return setting.admittedBefore + setting.admitPerMinute * Math.max(0, at - from) / 60_000
}

/**
 * When the buyer at `place` (0-based) is admitted, at the rates set so far (the last one lasting
 * on): the instant the admitted count passes `place`. Undefined for a room without any setting.
 */
export function admissionTime (room: Room, place: number): number | undefined {
  for (const [i, setting] of room.settings.entries()) {
    const next = room.settings[i + 1]
    const from = Math.max(setting.since, room.opensAt)
    const until = next?.since ?? Infinity
    if (setting.admitPerMinute === null) {
      // Switched off: everyone who joined before it was switched on again is admitted.
      if (place < (next?.admittedBefore ?? Infinity)) return from
      continue
    }
    const at = from + Math.max(0, place + 1 - setting.admittedBefore) * 60_000 / setting.admitPerMinute
    if (at < until) return at
  }
  return undefined
}

/**
 * The place (0-based) of the `seq`th joiner: those who joined before the opening take places
 * 0..joinedBeforeOpening-1 in the room's drawn order, `delayMs` after the opening (once their
 * count is final); later ones follow in the order they joined. Undefined for an early joiner
 * whose place is not drawn yet.
 */
export function placeOf (room: Room, seq: number, delayMs: number): number | undefined {
  if (seq > room.joinedBeforeOpening) return seq - 1
  if (room.now < room.opensAt + delayMs) return undefined
  return shuffledPlace(room.seed, room.joinedBeforeOpening, seq - 1)
}
