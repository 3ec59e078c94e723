import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { cleanUpNow, onCleanUp } from './cleanup.ts'
import type { Probed } from './probe-child.ts'
import { round, root } from './settings.ts'
import { childEnv } from './server.ts'

export interface ProbeResults { health: Probed, ready: Probed }

export interface Probe {
  /** From now on: what it saw before does not count. */
  measure: () => void
  /** Ends it and says what it saw. */
  stop: () => Promise<ProbeResults>
}

/** Starts polling a server's /health and /ready (probe-child.ts). */
export async function startProbe (base: string): Promise<Probe> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'bench', 'probe-child.ts'), base], {
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
      const [seen] = await answer as [ProbeResults]
      await cleanUpNow(kill)
      const rounded = (probed: Probed): Probed => ({ ...probed, maxMs: round(probed.maxMs, 1) })
      return { health: rounded(seen.health), ready: rounded(seen.ready) }
    }
  }
}
