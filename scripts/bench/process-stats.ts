import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { promisify } from 'node:util'

/** What a server process costs while load runs: its resident memory, and its CPU time. */

const execFileAsync = promisify(execFile)

export async function rssKb (pid: number): Promise<number | undefined> {
  const status = `/proc/${pid}/status`
  if (existsSync(status)) {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(status, 'utf8'))
    return match === null ? undefined : Number(match[1])
  }
  // No /proc (macOS): ps reports the same resident size in kB.
  const { stdout } = await execFileAsync('ps', ['-o', 'rss=', '-p', String(pid)]).catch(() => ({ stdout: '' }))
  const kb = Number(stdout.trim())
  return stdout.trim() === '' || !Number.isFinite(kb) ? undefined : kb
}

export interface RssMeter {
  peakKbByPhase: Record<string, number>
  during: <T>(phase: string, run: () => Promise<T>) => Promise<T>
}

/** Peak RSS of a process, sampled every 100 ms while a phase runs. */
export function rssMeter (pid: number): RssMeter {
  const peakKbByPhase: Record<string, number> = {}
  const sample = async (phase: string): Promise<void> => {
    const kb = await rssKb(pid).catch(() => undefined)
    if (kb !== undefined) peakKbByPhase[phase] = Math.max(peakKbByPhase[phase] ?? 0, kb)
  }
  return {
    peakKbByPhase,
    during: async (phase, run) => {
      await sample(phase)
      const timer = setInterval(() => { void sample(phase) }, 100)
      try {
        return await run()
      } finally {
        clearInterval(timer)
        await sample(phase)
      }
    }
  }
}

let clockTicks: number | undefined

/**
 * CPU time (user + system, all threads) a process has used so far, in ms; undefined without /proc.
 * /proc counts it in clock ticks, usually 100 a second.
 */
export async function cpuMs (pid: number): Promise<number | undefined> {
  const stat = `/proc/${pid}/stat`
  if (!existsSync(stat)) return undefined
  clockTicks ??= Number((await execFileAsync('getconf', ['CLK_TCK']).catch(() => ({ stdout: '100' }))).stdout.trim()) || 100
  // The command name in parentheses may hold spaces; the fields after it are fixed.
  const fields = readFileSync(stat, 'utf8').replace(/^.*\) /s, '').split(' ')
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) * 1000 / clockTicks
}
