import type { Problem } from '../../api/problems.ts'
import { problem } from './problem-document.ts'

export interface ReadinessInputs {
  draining: boolean
  /** Resolves to the migrations not yet applied; rejects when the database does not answer. */
  pendingMigrations: () => Promise<string[]>
  /** Told why the database did not answer. */
  databaseFailed: (error: unknown) => void
}

/**
 * What `/ready` answers: nothing when ready, else the problem that says why not. The main port's
 * route and the management port's thread both answer with it, so that they never disagree.
 */
export async function readinessProblem ({ draining, pendingMigrations, databaseFailed }: ReadinessInputs): Promise<Problem | undefined> {
  if (draining) return problem('service_unavailable', 'The server is shutting down')
  let pending: string[]
  try {
    pending = await pendingMigrations()
  } catch (error) {
    databaseFailed(error)
    return problem('service_unavailable', 'The database is not answering')
  }
  if (pending.length > 0) return problem('service_unavailable', `Migrations pending: ${pending.join(', ')}`)
  return undefined
}
