import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { freePort } from '../../src/db/embedded.ts'

export const serverPath = fileURLToPath(new URL('../../src/main.ts', import.meta.url))

export interface ServerExit { code: number | null, signal: NodeJS.Signals | null }

export interface ServerProcessOptions {
  /** The server's DATABASE_URL. */
  databaseUrl: string
  /**
   * Added to the inherited environment after PORT, HOST and DATABASE_URL, so it may override
   * them; `undefined` removes an inherited variable (ADMIN_TOKEN, to make the server make one).
   */
  env?: Record<string, string | undefined>
  /** A free port is picked when absent. */
  port?: number
  /** How long the server may take to start listening; 30 s by default. */
  startTimeoutMs?: number
  /** Node's arguments that start the server: the sources through tsx by default. */
  nodeArgs?: string[]
}

export interface ServerProcess {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  /** stdout and stderr so far, interleaved as they arrived. */
  output: () => string
  /** stdout alone: the server's pino lines (JSON, one a line) and the database setup's messages. */
  stdout: () => string
  /** How it ended, once it has (and its output is all in). */
  exit: () => ServerExit | undefined
  /** Resolves when the process has exited and its output is all in. */
  exited: Promise<ServerExit>
  /** Resolves when it exits, or with undefined once `timeoutMs` have passed without that. */
  waitForExit: (timeoutMs: number) => Promise<ServerExit | undefined>
  /** Signals the process unless it has already exited. */
  kill: (signal: NodeJS.Signals) => void
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

function childEnv (options: ServerProcessOptions, port: number): NodeJS.ProcessEnv {
  // Not under tap's coverage or loader options: that child would load the sources through another loader.
  const { NODE_OPTIONS: _options, NODE_V8_COVERAGE: _coverage, ...inherited } = process.env
  const env: NodeJS.ProcessEnv = { ...inherited, DATABASE_URL: options.databaseUrl, PORT: String(port), HOST: '127.0.0.1' }
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name]
    else env[name] = value
  }
  return env
}

async function healthAnswers (url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) })
    await response.arrayBuffer()
    return response.status === 200
  } catch {
    return false
  }
}

/**
 * Waits until the server says it listens or answers /health (with LOG_LEVEL above info it says
 * nothing). Throws with the server's output if it exits first or takes too long.
 */
async function waitUntilListening (server: ServerProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const exit = server.exit()
    if (exit !== undefined) {
      throw new Error(`the server exited (${exit.code ?? exit.signal ?? '?'}) before listening:\n${server.output()}`)
    }
    if (server.output().includes('Server listening') || await healthAnswers(server.url)) return
    await sleep(50)
  }
  server.kill('SIGKILL')
  throw new Error(`the server did not listen within ${timeoutMs} ms:\n${server.output()}`)
}

/**
 * Spawns `src/main.ts` as a real process (`node --import=tsx`, unless `nodeArgs` say otherwise)
 * on 127.0.0.1 and waits until it listens. It is SIGKILLed when `t` ends, whatever happened, so a
 * failing test leaves no server.
 */
export async function startServerProcess (t: Test, options: ServerProcessOptions): Promise<ServerProcess> {
  const port = options.port ?? await freePort()
  const child = spawn(process.execPath, options.nodeArgs ?? ['--import=tsx', serverPath], {
    env: childEnv(options, port),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const output: string[] = []
  const stdout: string[] = []
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (text: string) => { output.push(text); stdout.push(text) })
  child.stderr.on('data', (text: string) => { output.push(text) })

  let exit: ServerExit | undefined
  const exited = new Promise<ServerExit>((resolve) => {
    const settle = (result: ServerExit): void => {
      exit ??= result
      resolve(exit)
    }
    // 'close' comes once the output has been read to its end as well, so that the last lines
    // logged are in output(); a grandchild holding the pipes open would put it off for ever, so
    // a second after the exit, that does.
    child.once('close', (code, signal) => { settle({ code, signal }) })
    child.once('exit', (code, signal) => { setTimeout(() => { settle({ code, signal }) }, 1_000).unref() })
    // A process that could not be spawned emits no 'exit'; waiting for one would hang the teardown.
    child.once('error', (error) => {
      output.push(`spawning the server failed: ${error.message}\n`)
      settle({ code: null, signal: null })
    })
  })
  const server: ServerProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    output: () => output.join(''),
    stdout: () => stdout.join(''),
    exit: () => exit,
    exited,
    waitForExit: async (timeoutMs) => await Promise.race([exited, sleep(timeoutMs).then(() => exit)]),
    kill: (signal) => { if (exit === undefined) child.kill(signal) }
  }
  t.teardown(async () => {
    server.kill('SIGKILL')
    await exited
  })
  await waitUntilListening(server, options.startTimeoutMs ?? 30_000)
  return server
}
