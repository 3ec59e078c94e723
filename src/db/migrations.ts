import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { resolveBinary } from 'dbmate'
import { sql, type Kysely } from 'kysely'

export const migrationsDir = fileURLToPath(new URL('../../db/migrations', import.meta.url))

/** Versions of the migration files shipped with this build, e.g. `20261125000000`. */
export function shippedMigrationVersions (): string[] {
  return readdirSync(migrationsDir)
    .filter((name) => name.endsWith('.sql'))
    .map((name) => path.basename(name).split('_')[0] ?? '')
    .sort()
}

/** dbmate's driver insists on TLS unless told otherwise; pg does not. Say it explicitly, as PGSSL does. */
export function dbmateUrl (url: string, ssl = false): string {
  const parsed = new URL(url)
  if (!parsed.searchParams.has('sslmode')) parsed.searchParams.set('sslmode', ssl ? 'require' : 'disable')
  return parsed.toString()
}

/**
 * Runs dbmate against `url` (over TLS when `ssl`, unless the URL's sslmode says otherwise). The
 * schema file is not rewritten here: that is `make schema`'s job, so that migrating a production
 * database never touches the working tree.
 */
export async function dbmate (url: string, args: string[], onOutput: (line: string) => void = () => {}, ssl = false): Promise<void> {
  const child = spawn(resolveBinary(), ['--migrations-dir', migrationsDir, '--no-dump-schema', ...args], {
    env: { ...process.env, DATABASE_URL: dbmateUrl(url, ssl) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  const collect = (chunk: Buffer): void => {
    output += chunk.toString()
    for (const line of chunk.toString().split('\n').filter(Boolean)) onOutput(line)
  }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  if (code !== 0) throw new Error(`dbmate ${args.join(' ')} failed${output.trim() === '' ? '' : `: ${output.trim()}`}`)
}

/** Migrations shipped with this build that the database has not applied (all of them on a blank database). */
export async function pendingMigrations (db: Kysely<any>): Promise<string[]> {
  const applied = await sql<{ version: string }>`SELECT version FROM schema_migrations`.execute(db).then((result) => new Set(result.rows.map((row) => row.version)))
    .catch((error: { code?: string }) => {
      // No schema_migrations table yet: nothing is applied.
      if (error.code === '42P01') return new Set<string>()
      throw error
    })
  return shippedMigrationVersions().filter((version) => !applied.has(version))
}
