import { spawn, type ChildProcess } from 'node:child_process'
import { freePort } from '../../src/db/embedded.ts'
import { cleanUpNow, onCleanUp } from './cleanup.ts'
import { adminToken, holdSeconds, poolMax, root, waitingRoomSecret } from './settings.ts'

/** The API as a child process, started as `make start` starts it, with the bench's settings or others. */

export interface ApiServer {
  base: string
  pid: number
  /** Lines the server wrote (warnings and worse at LOG_LEVEL=warn), the last 200 of them. */
  log: string[]
  logLines: () => number
  /** Stops it now rather than when the bench ends. */
  stop: () => Promise<void>
}

/** The settings every bench server runs with; a phase may add or override any of them. */
const benchSettings = (): Record<string, string> => ({
  ADMIN_TOKEN: adminToken,
  WAITING_ROOM_SECRET: waitingRoomSecret,
  LOG_LEVEL: 'warn',
  PGPOOL_MAX: poolMax,
  // One client address sends everything here; per-client limits would measure the limiter.
  RATE_LIMIT_BOOKINGS_PER_MINUTE: '0',
  RATE_LIMIT_ADMIN_PER_MINUTE: '0',
  HOLD_WINDOW_SECONDS: String(holdSeconds)
})

export function childEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  // tap instruments children through these; the server must run as it does in production.
  const { NODE_OPTIONS: _options, NODE_V8_COVERAGE: _coverage, ...env } = process.env
  return { ...env, ...extra }
}

function keepTail (child: ChildProcess, log: string[]): () => number {
  let count = 0
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      count++
      log.push(line)
      if (log.length > 200) log.shift()
    }
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  return () => count
}

async function stopChild (child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}

async function waitUntilReady (base: string, exited: Promise<void>, log: string[]): Promise<void> {
  let gone = false
  void exited.then(() => { gone = true })
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (gone) throw new Error(`the server exited before it was ready:\n${log.join('\n')}`)
    const status = await fetch(`${base}/ready`).then((response) => response.status, () => 0)
    if (status === 200) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the server was not ready within 60 s:\n${log.join('\n')}`)
}

export async function startApi (databaseUrl: string, settings: Record<string, string> = {}): Promise<ApiServer> {
  const port = await freePort()
  // The same node flags as `make start` (the Makefile passes them), so the footprint measured is the real one.
  const nodeFlags = (process.env.SERVER_NODE_FLAGS ?? '').split(' ').filter(Boolean)
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: childEnv({ ...benchSettings(), ...settings, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1' }),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const log: string[] = []
  const logLines = keepTail(child, log)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async (): Promise<void> => await stopChild(child, exited)
  onCleanUp(stop)
  if (child.pid === undefined) throw new Error('the server process did not start')
  const base = `http://127.0.0.1:${port}`
  await waitUntilReady(base, exited, log)
  return { base, pid: child.pid, log, logLines, stop: async () => await cleanUpNow(stop) }
}
