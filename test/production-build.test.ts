import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { builtinModules } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'
import { freshDatabaseUrl } from './helpers/database.ts'
import { startServerProcess } from './helpers/server-process.ts'

const projectDir = fileURLToPath(new URL('..', import.meta.url))
// Inside the project (.scratch/ is git-ignored), so the built files find its node_modules.
const dist = path.join(projectDir, '.scratch', `build-${randomBytes(4).toString('hex')}`)
t.teardown(() => { rmSync(dist, { recursive: true, force: true }) })

// No tsx, no coverage loader: the built server runs on plain Node.
const { NODE_OPTIONS: _options, NODE_V8_COVERAGE: _coverage, DATABASE_URL: _url, PGHOST: _host, ...env } = process.env

const build = spawnSync('make', ['--no-print-directory', 'build', `DIST=${dist}`], { cwd: projectDir, env, encoding: 'utf8', timeout: 120_000 })
t.equal(build.status, 0, 'make build', { output: build.stdout + build.stderr })

/** The package a bare specifier names: `@scope/name` or `name`. */
const packageOf = (specifier: string): string => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/')

t.test('the build imports production dependencies only', async (t) => {
  const { dependencies } = JSON.parse(readFileSync(path.join(projectDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.js'))
  t.ok(files.includes(path.join('src', 'main.js')) && files.includes(path.join('scripts', 'migrate.js')), 'the server and the migration command are built')
  const imported = new Set<string>()
  const notJavaScript: string[] = []
  for (const file of files) {
    for (const { fileName: specifier } of ts.preProcessFile(readFileSync(path.join(dist, file), 'utf8'), true, true).importedFiles) {
      if (specifier.startsWith('.')) {
        if (!/\.js(on)?$/.test(specifier)) notJavaScript.push(`${file}: ${specifier}`)
      } else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) imported.add(packageOf(specifier))
    }
  }
  t.same(notJavaScript, [], 'relative imports name the built .js files')
  t.ok(imported.has('fastify'), 'the imports are found')
  t.same([...imported].filter((name) => dependencies[name] === undefined), [], 'every package imported is in dependencies')
})

t.test('the built migration command migrates a blank database, and the built server serves from it', async (t) => {
  const url = await freshDatabaseUrl({ migrated: false })
  const migrate = spawnSync(process.execPath, [path.join(dist, 'scripts', 'migrate.js'), 'up'], { env: { ...env, DATABASE_URL: url }, encoding: 'utf8', timeout: 60_000 })
  t.equal(migrate.status, 0, 'the built migration command', { output: migrate.stdout + migrate.stderr })

  const token = 'production-build-admin-token-0123456789'
  const server = await startServerProcess(t, { databaseUrl: url, nodeArgs: [path.join(dist, 'src', 'main.js')], env: { ADMIN_TOKEN: token, LOG_LEVEL: 'warn' } })
  t.equal((await fetch(`${server.url}/ready`)).status, 200, '/ready')
  const created = await fetch(`${server.url}/admin/shows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Built', start_time: new Date(Date.now() + 3600_000).toISOString(), total_seats: 10 })
  })
  t.equal(created.status, 201, 'a show')
  const show = await created.json() as { id: string }
  const hold = await fetch(`${server.url}/bookings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ show_id: show.id, quantity: 2 })
  })
  t.equal(hold.status, 201, 'a hold')
  t.match(await hold.json(), { status: 'PENDING', seats: [String, String] }, 'two seats held')

  server.kill('SIGTERM')
  t.same(await server.waitForExit(10_000), { code: 0, signal: null }, 'it stops cleanly on SIGTERM')
})
