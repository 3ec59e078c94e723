import type { Database } from '../../src/db/database.ts'
import type { RssMeter } from './process-stats.ts'
import type { Row } from './table.ts'

/** What the runner hands every phase, and what a phase is to the runner. */

export interface Bench {
  /** The main server, started once with the bench's settings; a phase may start others (server.ts). */
  base: string
  db: Database
  databaseUrl: string
  /** The main server's peak RSS by phase. */
  rss: RssMeter
  /** A migrated database of its own on the same PostgreSQL server, and a connection to it; dropped when the bench ends. */
  freshDatabase: () => Promise<{ url: string, db: Database }>
}

export interface Phase<R> {
  /** Its name in BENCH_PHASES. */
  name: string
  /** Its key in the results file. */
  key: string
  /** Phases whose results its rows compare against: selecting it runs them too, before it. */
  needs?: Array<Phase<any>>
  run: (bench: Bench) => Promise<R>
  /** Its rows of the table, once every selected phase has run. */
  rows: (result: R, measured: Measured) => Row[]
}

/** The results of the phases that ran, by phase. */
export class Measured {
  private readonly results = new Map<Phase<any>, unknown>()

  set<R> (phase: Phase<R>, result: R): void {
    this.results.set(phase, result)
  }

  get<R> (phase: Phase<R>): R | undefined {
    return this.results.get(phase) as R | undefined
  }
}
