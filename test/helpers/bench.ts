import { spawn } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const root = fileURLToPath(new URL('../..', import.meta.url))

export interface BenchRun { code: number | null, stdout: string, stderr: string }

/** Runs `make bench`'s script at 1 % for a second, with `settings` added to its environment. */
export async function runBench (settings: Record<string, string> = {}): Promise<BenchRun> {
  // Not under tap's instrumentation: the bench and its server must load as `make bench` loads them.
  // TEST_DATABASE_URL passes through, so the bench uses the suite's PostgreSQL server.
  const { NODE_OPTIONS: _options, NODE_V8_COVERAGE: _coverage, ...env } = process.env
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench/run.ts'], {
    cwd: root,
    env: { ...env, BENCH_SCALE: '0.01', BENCH_SECONDS: '1', ...settings },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  // A backstop for a bench that hangs, below tap's timeout (.taprc) and well past a run on a busy
  // machine, where each server process takes seconds to start. SIGINT lets the bench stop its
  // servers and drop its databases before it goes.
  const timer = setTimeout(() => child.kill('SIGINT'), 270_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** The results file a run names, read, and removed when the test ends; undefined (a failure) when it names none. */
export async function benchResults (t: Test, run: BenchRun): Promise<Record<string, any> | undefined> {
  const written = /results written to (\S+\.json)/.exec(run.stdout)?.[1]
  if (written === undefined) {
    t.fail('it names the results file', { stdout: run.stdout, stderr: run.stderr })
    return undefined
  }
  const file = path.resolve(root, written)
  // A smoke run's figures are meaningless; keep bench/results/ for real measurements.
  t.teardown(async () => await rm(file, { force: true }))
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, any>
}

export const invariantsHold = { noSeatInTwoLiveBookings: true, heldSeatsMatch201s: true, availabilityAddsUp: true }
