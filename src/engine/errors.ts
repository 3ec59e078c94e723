import type { ProblemCode } from '../../api/index.ts'

/**
 * Why the engine refused an operation: invalid input, or one of the contract's problem codes (the
 * HTTP layer answers it with the code's status). Extract keeps only the contract's codes, so the
 * engine cannot throw one the contract lacks.
 */
export type EngineErrorCode = 'invalid_input' | Extract<ProblemCode,
  | 'show_not_found'
  | 'booking_not_found'
  | 'insufficient_seats'
  | 'no_adjacent_seats'
  | 'seats_unavailable'
  | 'sales_closed'
  | 'hold_expired'
  | 'booking_cancelled'
  | 'booking_confirmed'
  | 'extension_limit'
  | 'idempotency_key_reused'
  | 'idempotency_key_in_use'
  | 'sales_not_open'
  | 'no_waiting_room'
  | 'invalid_ticket'
  | 'admission_required'
  | 'admission_in_use'
>

export interface EngineErrorDetails {
  /** invalid_input: the offending input fields, e.g. `start_time`. */
  errors?: Array<{ field: string, message: string }>
  /** insufficient_seats, no_adjacent_seats: the free seats when it was decided. */
  available?: number
  /** no_adjacent_seats: the longest run of adjacent free seats in one row when it was decided. */
  largest_block?: number
  /** seats_unavailable: the asked-for labels that were not free. */
  unavailable?: string[]
  /** extension_limit: the latest end the hold may have. */
  max_hold_expires_at?: string
  /** sales_not_open: when holds are first taken. */
  sales_open_at?: string
}

export class EngineError extends Error {
  constructor (
    readonly code: EngineErrorCode,
    message: string,
    readonly details: EngineErrorDetails = {}
  ) {
    super(message)
    this.name = 'EngineError'
  }
}

export function invalidInput (field: string, message: string): EngineError {
  return new EngineError('invalid_input', `${field} ${message}`, { errors: [{ field, message }] })
}
