/**
 * `make test`: finds the test PostgreSQL server once for the whole run (TEST_DATABASE_URL, else a
 * testcontainers PostgreSQL, else an embedded one), then runs tap with TEST_DATABASE_URL pointing at
 * it. Every test file makes its own fresh database on that server, so files run in parallel.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startTestServer } from './postgres-server.ts'

const server = await startTestServer()
process.stdout.write(`# test database server: ${server.source}\n`)
const tap = fileURLToPath(new URL('../node_modules/.bin/tap', import.meta.url))
const child = spawn(tap, process.argv.slice(2), {
  stdio: 'inherit',
  env: { ...process.env, TEST_DATABASE_URL: server.url }
})
const code = await new Promise<number>((resolve) => child.once('close', (status) => resolve(status ?? 1)))
await server.stop()
process.exit(code)
