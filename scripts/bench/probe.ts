import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { cleanUpNow, onCleanUp } from './cleanup.ts'
import type { Probed } from './probe-child.ts'
import { round, root } from './settings.ts'
import { childEnv } from './server.ts'

export interface ProbeResults { health: Probed, ready: Probed }

export interface Probe<Name extends string> {
  /** From now on: what it saw before does not count. */
  measure: () => void
  /** Ends it and says what it saw at each base URL. */
  stop: () => Promise<Record<Name, ProbeResults>>
}

/** Starts polling /health and /ready at each of `bases`, base URLs by name (probe-child.ts). */
export async function startProbe<Name extends string> (bases: Record<Name, string>): Promise<Probe<Name>> {
  const targets = Object.entries<string>(bases).map(([name, base]) => `${name}=${base}`)
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'bench', 'probe-child.ts'), ...targets], {
    cwd: root,
    env: childEnv({}),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const kill = async (): Promise<void> => { child.kill() }
  onCleanUp(kill)
  await once(child, 'message')
  return {
    measure: () => { child.send('measure') },
    stop: async () => {
      const answer = once(child, 'message')
      child.send('stop')
      const [seen] = await answer as [Record<Name, ProbeResults>]
      await cleanUpNow(kill)
      const rounded = (probed: Probed): Probed => ({ ...probed, maxMs: round(probed.maxMs, 1) })
      return Object.fromEntries(Object.entries<ProbeResults>(seen).map(([name, { health, ready }]) => [name, { health: rounded(health), ready: rounded(ready) }])) as Record<Name, ProbeResults>
    }
  }
}
