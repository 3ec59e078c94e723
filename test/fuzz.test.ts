import fc from 'fast-check'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import type { ProblemCode } from '../api/index.ts'
import type { Database } from '../src/db/database.ts'
import { admin, adminToken, createShow, holdOk, testApp } from './helpers/app.ts'
import {
  almostValidValue, deeplyNested, garbageValue, hostileKey, hostileString, nearMissUuids, poisonedValue, validValue, withProperty,
  type JsonSchema, type SchemaContext
} from './helpers/fuzz-arbitraries.ts'

/**
 * Hostile input, fuzzed: requests generated from the OpenAPI document the app serves (so a new
 * route or parameter is fuzzed without touching this file), valid, almost valid and garbage, in
 * the path, the query, the headers and the body, against every operation. For every answer:
 *
 * - never a 5xx: nothing here loads the server, and load shedding and rate limits are off;
 * - every 4xx is an application/problem+json { type, title, status, detail, code } of its status;
 * - no stack trace, SQL or database message, and no HTML, unless it is the client's own input
 *   echoed inside a JSON string (see `leaks` below);
 * - the answer matches what the route documents (testApp's response validation, routed into the
 *   property so that fast-check shrinks a violation like any other failure);
 * - a rejected (4xx) request writes no row to any table (but for the stored refusal of its own
 *   Idempotency-Key, which the idempotency contract requires; see storedRefusals);
 * - Object.prototype is never polluted.
 *
 * Not fuzzed: /docs, Swagger UI's HTML pages, which are not in the document (test/docs-ui covers
 * them). An operation that answers a never-ending text/event-stream (live availability) is fuzzed
 * with ids of no show only, since inject waits for the end of the answer; see FuzzOperation.streams.
 *
 * FUZZ_RUNS sets the cases per operation, five times that for an operation with a request body
 * (the default makes more than 3000 in all); FUZZ_SEED replays a run (every run prints its seed,
 * and a failure prints it with the smallest failing request); FUZZ_ONLY=operationId,... fuzzes
 * only those; FUZZ_DISCOVER=1 goes on after a failure and reports every distinct one;
 * FUZZ_VERBOSE=0 leaves out the list of failing values met while shrinking.
 */

// ---------------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------------

interface Parameter {
  name: string
  in: 'path' | 'query' | 'header' | 'cookie'
  required?: boolean
  schema?: JsonSchema
}

interface Operation {
  operationId?: string
  parameters?: Parameter[]
  requestBody?: { required?: boolean, content?: Record<string, { schema?: JsonSchema }> }
  security?: Array<Record<string, string[]>>
  responses?: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>
}

interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>
  components?: { schemas?: Record<string, JsonSchema> }
  security?: Array<Record<string, string[]>>
}

interface FuzzOperation {
  id: string
  method: string
  path: string
  parameters: Parameter[]
  body: JsonSchema | undefined
  /** Needs the admin token. */
  secured: boolean
  /**
   * Answers a never-ending text/event-stream for a resource that exists, which inject would wait
   * for forever: such an operation is fuzzed with ids that exist nowhere, and must answer 404.
   */
  streams: boolean
}

const httpMethods = ['get', 'post', 'put', 'patch', 'delete']

function operationsOf (doc: OpenApiDocument): FuzzOperation[] {
  const operations: FuzzOperation[] = []
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of httpMethods) {
      const operation = item[method]
      if (operation === undefined) continue
      const security = operation.security ?? doc.security ?? []
      operations.push({
        id: operation.operationId ?? `${method} ${path}`,
        method: method.toUpperCase(),
        path,
        parameters: operation.parameters ?? [],
        body: operation.requestBody?.content?.['application/json']?.schema,
        secured: security.some((requirement) => Object.keys(requirement).length > 0),
        streams: Object.values(operation.responses ?? {}).some((response) => response.content?.['text/event-stream'] !== undefined)
      })
    }
  }
  return operations
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

interface FuzzRequest {
  method: string
  url: string
  headers: Record<string, string>
  payload?: string
  /** What kind of input this is, for a readable counterexample. */
  kind: string
}

interface Body {
  kind: string
  payload?: string
  contentType?: string
}

/** Percent-encodes the UTF-8 bytes of `value` (lone surrogates become U+FFFD, as a browser sends them). */
function percentEncode (value: string): string {
  let encoded = ''
  for (const byte of Buffer.from(value, 'utf8')) {
    const char = String.fromCharCode(byte)
    encoded += /[A-Za-z0-9\-._~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return encoded
}

/** A value as the text it becomes in a path, a query string or a header. */
function asText (value: unknown): string {
  if (typeof value === 'string') return value
  if (value === undefined) return ''
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value)
  return JSON.stringify(value) ?? ''
}

/**
 * What can reach the app in a header over a real socket: Node reads header bytes as latin1 and
 * refuses control characters before any application code runs, so only those are worth sending.
 * Values are capped at 8 KiB, under Node's 16 KiB header limit.
 */
function asHeaderValue (value: unknown): string {
  return Buffer.from(asText(value), 'utf8').toString('latin1').replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '?').slice(0, 8192).trim()
}

/** A value for a parameter: mostly valid or almost valid, garbage now and then. */
function parameterValue (schema: JsonSchema, ctx: SchemaContext): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: validValue(schema, ctx) },
    { weight: 3, arbitrary: almostValidValue(schema, ctx) },
    { weight: 1, arbitrary: garbageValue }
  )
}

function pathValue (operation: FuzzOperation, parameter: Parameter, ctx: SchemaContext, absentIds: readonly string[]): fc.Arbitrary<string> {
  const schema = parameter.schema ?? {}
  // Path parameters name resources: the ones that exist reach the logic behind the lookup.
  const existing = operation.streams ? absentIds : ctx.uuids
  const value = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...existing) },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: operation.streams ? fc.uuid().map((id) => `${id}x`) : nearMissUuids(ctx) },
    { weight: 2, arbitrary: parameterValue(schema, ctx).map(asText) },
    { weight: 2, arbitrary: hostileString }
  )
  return fc.oneof(
    { weight: 12, arbitrary: value.map(percentEncode) },
    // Encodings a URL parser may choke on, and segments that change the route.
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%00', '%2F', '%2f..', '..', '.', ';x', 'a/b', '', '%E0%A4%A', '%C0%AF', '%FF', '%25', '*', '~', '%u0041') }
  )
}

const querySuffixes = [
  '&', '&&', '=', '&%', '&limit=%zz', '&a[b]=1', '&__proto__[polluted]=yes', '&constructor[prototype][polluted]=yes',
  '&__proto__=polluted', '&limit', '&limit=1&limit=2', '&=x', '#fragment', '&%E0%A4%A=1', '&cursor=' + '%FF'.repeat(10)
]

function queryString (operation: FuzzOperation, ctx: SchemaContext): fc.Arbitrary<string> {
  const parameters = operation.parameters.filter((parameter) => parameter.in === 'query')
  const values = parameters.map((parameter) =>
    fc.option(parameterValue(parameter.schema ?? {}, ctx), { freq: 3 }).map((value): Array<[string, string]> => {
      if (value === null) return []
      // An array becomes a repeated parameter, as query-string parsers read it.
      const list = Array.isArray(value) ? value : [value]
      return list.map((item) => [parameter.name, asText(item)])
    }))
  const unknown = fc.oneof(
    { weight: 6, arbitrary: fc.constant<Array<[string, string]>>([]) },
    { weight: 1, arbitrary: fc.array(fc.tuple(hostileKey, hostileString.map(asText)), { minLength: 1, maxLength: 3 }) }
  )
  const suffix = fc.oneof({ weight: 10, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom(...querySuffixes) })
  return fc.tuple(fc.tuple(...values), unknown, suffix).map(([known, extra, end]) => {
    const pairs = [...known.flat(), ...extra].map(([key, value]) => `${percentEncode(key)}=${percentEncode(value)}`)
    const query = pairs.join('&') + end
    return query === '' ? '' : `?${query}`
  })
}

const badAuthorization = fc.oneof(
  fc.constantFrom(
    'Bearer wrong-token', `Bearer ${adminToken}x`, `Bearer ${adminToken.slice(0, -1)}`, `bearer ${adminToken}`, `Bearer  ${adminToken}`,
    `${adminToken}`, 'Bearer', 'Bearer ', `Basic ${Buffer.from(`admin:${adminToken}`).toString('base64')}`, `Bearer ${adminToken}, Bearer x`,
    `Bearer ${'a'.repeat(8000)}`, `Token ${adminToken}`, ''
  ),
  hostileString.map((value) => `Bearer ${value}`)
)

function headers (operation: FuzzOperation, ctx: SchemaContext): fc.Arbitrary<Record<string, string>> {
  const declared = operation.parameters.filter((parameter) => parameter.in === 'header').map((parameter) =>
    fc.option(parameterValue(parameter.schema ?? {}, ctx).map(asHeaderValue), { freq: 2 })
      .map((value): Array<[string, string]> => value === null ? [] : [[parameter.name, value]]))
  const authorization = operation.secured
    ? fc.oneof({ weight: 5, arbitrary: fc.constant(admin.authorization) }, { weight: 1, arbitrary: fc.option(badAuthorization.map(asHeaderValue), { nil: undefined }) })
    : fc.option(badAuthorization.map(asHeaderValue), { freq: 8, nil: undefined })
  const extra = fc.option(fc.dictionary(
    fc.constantFrom('accept', 'accept-language', 'accept-encoding', 'x-forwarded-for', 'x-forwarded-proto', 'x-request-id',
      'origin', 'cookie', 'if-none-match', 'range', 'x-http-method-override', 'content-encoding', 'forwarded'),
    fc.oneof(fc.constantFrom('text/html', 'application/xml', '*/*', 'gzip', '127.0.0.1, 10.0.0.1', 'https://evil.example', 'DELETE'), hostileString).map(asHeaderValue),
    { maxKeys: 3 }
  ), { freq: 4, nil: undefined })
  return fc.tuple(fc.tuple(...declared), authorization, extra).map(([params, auth, more]) => {
    const result: Record<string, string> = { ...more }
    for (const [name, value] of params.flat()) result[name] = value
    if (auth !== undefined) result.authorization = auth
    return result
  })
}

const jsonContentTypes = fc.oneof(
  { weight: 12, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=utf-16', 'application/json; charset=latin1',
      'application/problem+json', 'application/vnd.api+json', 'text/json', 'application/json, text/plain', 'application/jsonx')
  }
)

const rawContentTypes = fc.constantFrom(
  'text/plain', 'application/xml', 'text/xml', 'text/html', 'multipart/form-data; boundary=fuzz', 'application/x-www-form-urlencoded',
  'application/octet-stream', 'application/json', 'application/json', 'application/json', 'garbage', '*/*', ';', 'application/'
)

function rawTexts (valid: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom('{', '{"show_id":', "{'quantity':1}", '{"a":1,}', 'NaN', 'undefined', '[1,2', '"unterminated', '{"a":1}{"b":2}',
      '\ufeff{}', 'nul', ' ', '\u0000', '{"quantity":1e999}', '{"quantity":-0}', '{"quantity":1.0}', '{"quantity":100000000000000000000000}',
      '{"quantity":1,"quantity":"1"}', '<a>1</a>', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
      'show_id=x&quantity=1', '--fuzz\r\nContent-Disposition: form-data; name="quantity"\r\n\r\n1\r\n--fuzz--\r\n', '[]', '{}', 'null', '0', '""'),
    fc.integer({ min: 100, max: 20_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
    fc.integer({ min: 100, max: 10_000 }).map((depth) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)),
    // A valid body's text, which only the content type makes wrong.
    valid.map((value) => JSON.stringify(value) ?? ''),
    fc.string({ unit: 'binary', maxLength: 200 }),
    hostileString
  )
}

/** JSON text of `value` with a prototype-polluting key spliced in, which JSON.stringify would never write. */
function pollutedText (value: unknown, key: string): string {
  const text = JSON.stringify(value) ?? 'null'
  const pollution = key === 'constructor' ? '"constructor":{"prototype":{"polluted":"yes"}}' : '"__proto__":{"polluted":"yes"}'
  return text.startsWith('{') ? `{${pollution}${text === '{}' ? '' : ','}${text.slice(1)}` : `{${pollution}}`
}

function body (operation: FuzzOperation, ctx: SchemaContext): fc.Arbitrary<Body> {
  const json = (kind: string, value: fc.Arbitrary<unknown>): fc.Arbitrary<Body> =>
    fc.tuple(value, jsonContentTypes).map(([v, contentType]) => {
      const payload = JSON.stringify(v)
      return payload === undefined ? { kind } : { kind, payload, contentType }
    })
  const schema = operation.body
  const valid = schema !== undefined ? validValue(schema, ctx) : fc.constant({})
  const raw: fc.Arbitrary<Body> = fc.tuple(rawTexts(valid), fc.option(rawContentTypes, { nil: undefined }))
    .map(([payload, contentType]) => ({ kind: 'raw text', payload, contentType }))
  if (schema === undefined) {
    // Bodies an operation does not take must be ignored or refused, never trip it up.
    return fc.oneof({ weight: 8, arbitrary: fc.constant({ kind: 'no body' }) }, { weight: 1, arbitrary: json('garbage', garbageValue) }, { weight: 1, arbitrary: raw })
  }
  return fc.oneof(
    { weight: 5, arbitrary: json('valid', valid) },
    { weight: 6, arbitrary: json('almost valid', almostValidValue(schema, ctx)) },
    { weight: 4, arbitrary: json('poisoned', poisonedValue(schema, ctx)) },
    { weight: 2, arbitrary: json('garbage', garbageValue) },
    { weight: 1, arbitrary: json('deeply nested', deeplyNested) },
    { weight: 3, arbitrary: raw },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, fc.constantFrom('__proto__', 'constructor'))
        .map(([value, key]) => ({ kind: 'prototype pollution', payload: pollutedText(value, key), contentType: 'application/json' }))
    },
    { weight: 1, arbitrary: fc.constantFrom<Body>({ kind: 'empty' }, { kind: 'empty', contentType: 'application/json' }, { kind: 'empty', payload: '', contentType: 'application/json' }) },
    {
      weight: 1,
      // Just under the 64 KiB body limit, and over it.
      arbitrary: fc.tuple(valid, fc.constantFrom(60_000, 70_000, 200_000)).map(([value, size]): Body => {
        const text = JSON.stringify(value) ?? 'null'
        const padded = text.startsWith('{') && text !== '{}' ? `{"padding":"${'x'.repeat(size - text.length)}",${text.slice(1)}` : text + ' '.repeat(size - text.length)
        return { kind: 'oversized', payload: padded, contentType: 'application/json' }
      })
    }
  )
}

const abbreviate = (_key: string, value: unknown): unknown =>
  typeof value === 'string' && value.length > 300 ? `${value.slice(0, 60)}... (${value.length} characters)` : value

/** A request as the app.inject call that replays it, long strings abbreviated. */
const describe = (request: FuzzRequest): string => `app.inject(${JSON.stringify(request, abbreviate)})`

function requests (operation: FuzzOperation, ctx: SchemaContext, absentIds: readonly string[]): fc.Arbitrary<FuzzRequest> {
  const pathParameters = operation.parameters.filter((parameter) => parameter.in === 'path')
  const path = fc.tuple(...pathParameters.map((parameter) => pathValue(operation, parameter, ctx, absentIds).map((value) => [parameter.name, value] as const)))
    .map((values) => values.reduce((url, [name, value]) => url.replace(`{${name}}`, value), operation.path))
  return fc.tuple(path, queryString(operation, ctx), headers(operation, ctx), body(operation, ctx)).map(([url, query, headerValues, requestBody]) => {
    const request: FuzzRequest = {
      method: operation.method,
      url: url + query,
      headers: { ...headerValues, ...(requestBody.contentType !== undefined && { 'content-type': requestBody.contentType }) },
      ...(requestBody.payload !== undefined && { payload: requestBody.payload }),
      kind: requestBody.kind
    }
    // fast-check prints counterexamples through this.
    return Object.defineProperty(request, fc.toStringMethod, { value: () => describe(request) })
  })
}

// ---------------------------------------------------------------------------------------------
// What every answer must be
// ---------------------------------------------------------------------------------------------

/**
 * Text that must not reach a client: stack traces, source paths, SQL, PostgreSQL's messages, HTML.
 *
 * Any of it may appear only as the client's own input echoed back (a "no show with id <script>"
 * detail, a show named "SELECT"): inside an application/problem+json or application/json body,
 * where it is a JSON string, inert data that no browser renders as markup (responses never carry
 * text/html, checked separately). An error answer may echo only this request's input; a 2xx may
 * also return what earlier requests stored (show names), so there it is enough that some request
 * sent the fragment. Bodies are searched decoded (JSON strings unescaped), so a newline in a
 * detail counts as one, not as the two characters `\n`.
 */
const leaks: Array<[string, RegExp]> = [
  ['a stack trace', /\n\s+at /], ['a stack trace', /node_modules/], ['a source location', /\.(ts|js|mjs|cjs):\d/],
  ['SQL', /\bSELECT\b/], ['SQL', /\bINSERT\b/], ['SQL', /\bUPDATE /], ['SQL', /\bDELETE FROM\b/],
  ['a database message', /syntax error/i], ['a database message', /violates/i], ['a database message', /relation "/],
  ['a database message', /duplicate key/i], ['a database message', /\bpg_[a-z]/], ['a database message', /invalid input syntax/i],
  ['a database message', /out of range/i], ['a database message', /invalid byte sequence/i], ['a database message', /null value in column/i],
  ['a database message', /ECONNREFUSED|ECONNRESET/],
  ['HTML', /<html/i], ['HTML', /<script/i], ['HTML', /<!doctype/i], ['HTML', /<body/i]
]

/** Every string in a JSON value, keys included; without recursion, since the fuzzer nests 20,000 deep. */
function strings (root: unknown): string[] {
  const found: string[] = []
  const pending: unknown[] = [root]
  while (pending.length > 0) {
    const value = pending.pop()
    if (typeof value === 'string') found.push(value)
    else if (Array.isArray(value)) for (const item of value) pending.push(item)
    else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) { found.push(key); pending.push(item) }
    }
  }
  return found
}

function parseJson (text: string): { ok: true, value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

function safeDecode (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** Everything the client sent, decoded every way the server may have decoded it. */
function requestText (request: FuzzRequest): string {
  const parts = [request.method, request.url, safeDecode(request.url), ...Object.entries(request.headers).flat()]
  for (const part of request.url.split(/[/?&=]/)) parts.push(safeDecode(part), safeDecode(part.replaceAll('+', ' ')))
  if (request.payload !== undefined) {
    parts.push(request.payload)
    const parsed = parseJson(request.payload)
    if (parsed.ok) parts.push(...strings(parsed.value))
  }
  return parts.join('\u0001')
}

interface Answer {
  statusCode: number
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

function problemViolations (answer: Answer, method: string): string[] {
  const contentType = String(answer.headers['content-type'] ?? '')
  if (!contentType.startsWith('application/problem+json')) return [`a ${answer.statusCode} as "${contentType}", not application/problem+json`]
  if (method === 'HEAD') return []
  const parsed = parseJson(answer.body)
  if (!parsed.ok) return [`a ${answer.statusCode} whose body is not JSON`]
  const problem = parsed.value as Record<string, unknown>
  const wrong: string[] = []
  for (const field of ['type', 'title', 'detail', 'code']) {
    if (typeof problem[field] !== 'string' || problem[field] === '') wrong.push(`the problem's ${field} is not a non-empty string`)
  }
  if (problem.status !== answer.statusCode) wrong.push(`the problem's status ${String(problem.status)} is not the HTTP status ${answer.statusCode}`)
  if (typeof problem.code === 'string' && !/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(problem.code)) wrong.push(`the problem's code ${problem.code} is not snake_case`)
  return wrong
}

class Checker {
  /** Which leak patterns some request so far has sent, and so may come back in a 2xx. */
  private readonly everSent = new Set<RegExp>()
  private readonly prototypeKeys = Object.getOwnPropertyNames(Object.prototype).join()

  violations (request: FuzzRequest, answer: Answer): string[] {
    const wrong: string[] = []
    const status = answer.statusCode
    if (status >= 500) wrong.push(`a ${status}`)
    const contentType = String(answer.headers['content-type'] ?? '')
    if (/html/i.test(contentType)) wrong.push(`an answer as ${contentType}`)
    if (status >= 400) wrong.push(...problemViolations(answer, request.method))

    const sent = requestText(request)
    for (const [, pattern] of leaks) if (pattern.test(sent)) this.everSent.add(pattern)
    const parsed = parseJson(answer.body)
    const received = parsed.ok ? strings(parsed.value).join('\u0001') : answer.body
    for (const [what, pattern] of leaks) {
      if (!pattern.test(received)) continue
      const echoed = parsed.ok && (status < 300 ? this.everSent.has(pattern) : pattern.test(sent))
      if (!echoed) wrong.push(`${what} (${String(pattern)}) in the body`)
    }

    if (Object.getOwnPropertyNames(Object.prototype).join() !== this.prototypeKeys || 'polluted' in {}) {
      wrong.push('Object.prototype was polluted')
    }
    return wrong
  }
}

// ---------------------------------------------------------------------------------------------
// The database's fingerprint
// ---------------------------------------------------------------------------------------------

interface Fingerprint {
  /** Every table but idempotency_keys. */
  main: string
  /** idempotency_keys. */
  keys: string
  /** idempotency_keys without the row of the request's own key. */
  otherKeys: string
}

/**
 * A fingerprint of every table: its row count and the newest transaction id among its rows
 * (`xmin`, which PostgreSQL stamps on every row version it writes). An insert or an update makes
 * a row version newer than any before it and a delete lowers the count, so any write shows,
 * even one that rewrites a row with the values it had. It reads no row's contents, so it stays
 * under a millisecond where hashing every row took three. The tables come from the catalog, so a
 * table a later migration adds is covered without a change here.
 */
async function fingerprinter (db: Database): Promise<(key?: string) => Promise<Fingerprint>> {
  const { rows } = await sql<{ name: string }>`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`.execute(db)
  const tables = rows.map((row) => row.name)
  const digest = "count(*) || ':' || coalesce(max(xmin::text::bigint), 0)"
  const main = sql.raw(tables.filter((name) => name !== 'idempotency_keys')
    .map((name) => `(SELECT '${name}=' || ${digest} FROM public."${name}")`).join(` || ' ' || `))
  const hasKeys = tables.includes('idempotency_keys')
  return async (key) => {
    // The same, once more without the row of the request's own idempotency key (see storedRefusals).
    const other = sql`FILTER (WHERE key IS DISTINCT FROM ${key ?? null}::text)`
    const keys = hasKeys
      ? sql`(SELECT ${sql.raw(digest)} || '/' || count(*) ${other} || ':' || coalesce(max(xmin::text::bigint) ${other}, 0) FROM public.idempotency_keys)`
      : sql.lit('/')
    const { rows: [row] } = await sql<{ main: string, keys: string }>`SELECT ${main} AS main, ${keys} AS keys`.execute(db)
    if (row === undefined) throw new Error('no fingerprint')
    const [all = '', otherKeys = ''] = row.keys.split('/')
    return { main: row.main, keys: all, otherKeys }
  }
}

/**
 * Refusals the idempotency contract stores: a retry with the same key and body must get the same
 * answer again, so the first answer's row in idempotency_keys (and only that row) may be written
 * by these 4xx. Validation failures and key conflicts are not stored.
 */
const storedRefusals = new Set<string>(['show_not_found', 'insufficient_seats', 'seats_unavailable', 'sales_closed'] satisfies ProblemCode[])

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

function numberFromEnv (name: string): number | undefined {
  const value = process.env[name]
  if (value === undefined || value === '') return undefined
  const number = Number(value)
  if (!Number.isInteger(number)) throw new Error(`${name} must be an integer, not ${value}`)
  return number
}

const seed = numberFromEnv('FUZZ_SEED') ?? Date.now() % 2 ** 31
const only = (process.env.FUZZ_ONLY ?? '').split(',').filter((id) => id !== '')
// Verbose lists every failing value met while shrinking, after the smallest counterexample.
const verbose = process.env.FUZZ_VERBOSE === '0' ? fc.VerbosityLevel.None : fc.VerbosityLevel.Verbose

/** What went wrong, the smallest request that shows it, and how to replay it. */
function failure<T> (outcome: fc.RunDetails<T>): string {
  const error = outcome.errorInstance instanceof Error ? outcome.errorInstance.message : String(outcome.errorInstance)
  return `${error}\n\n${fc.defaultReportMessage(outcome) ?? ''}\nReplay: FUZZ_SEED=${seed}`
}

async function withDeadline<T> (work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms) })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}

t.test('hostile input, fuzzed from the OpenAPI document', async (t) => {
  // testApp reports answers that break the document through t.fail; they are collected here
  // instead and fail the property, so that fast-check shrinks them and prints the request.
  const documentViolations: string[] = []
  const reporting = new Proxy<Test>(t, {
    get (target, key) {
      if (key === 'fail') return (message: string) => { documentViolations.push(message); return false }
      const value: unknown = Reflect.get(target, key, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    }
  })
  // Few seats per show keep the fingerprint cheap; larger shows are then refused, another path.
  const { app, db } = await testApp(reporting, { maxSeatsPerShow: 50 })
  await app.ready()
  const doc = app.swagger() as unknown as OpenApiDocument
  const operations = operationsOf(doc).filter((operation) => only.length === 0 || only.includes(operation.id))
  t.ok(operations.length > 0, 'the document has operations to fuzz')

  // Something to find: shows open, by rows and closed, bookings in every state, and cursors.
  const open = await createShow(app, { name: 'Fuzz open', total_seats: 40 })
  const rows = await createShow(app, { name: 'Fuzz rows', rows: [{ label: 'A', seats: 10 }, { label: 'B', seats: 10 }] })
  const closed = await createShow(app, { name: 'Fuzz closed', total_seats: 5 })
  await sql`UPDATE shows SET start_time = now() - interval '1 minute' WHERE id = ${closed.id}`.execute(db)
  const pending = [await holdOk(app, { show_id: open.id, quantity: 1 }), await holdOk(app, { show_id: rows.id, seats: ['A1', 'B2'] }), await holdOk(app, { show_id: open.id, quantity: 2 })]
  const confirmed = await holdOk(app, { show_id: open.id, quantity: 1 })
  await app.inject({ method: 'POST', url: `/bookings/${confirmed.id}/confirm` })
  const cancelled = await holdOk(app, { show_id: rows.id, quantity: 1 })
  await app.inject({ method: 'POST', url: `/bookings/${cancelled.id}/cancel` })
  const expired = await holdOk(app, { show_id: open.id, quantity: 1 })
  await sql`UPDATE bookings SET created_at = now() - interval '10 minutes', hold_expires_at = now() - interval '5 minutes' WHERE id = ${expired.id}`.execute(db)
  await sql`UPDATE seats SET hold_expires_at = now() - interval '5 minutes' WHERE booking_id = ${expired.id}`.execute(db)
  const tokens: string[] = []
  for (const url of ['/shows?limit=1', '/admin/shows?limit=1', `/admin/shows/${open.id}/bookings?limit=1`]) {
    const cursor: unknown = (await app.inject({ url, headers: admin })).json().next_cursor
    if (typeof cursor === 'string') tokens.push(cursor)
  }
  for (const show of [open, rows]) {
    const seats = (await app.inject(`/shows/${show.id}/seats`)).json() as { items: Array<{ label: string }> }
    tokens.push(...seats.items.slice(0, 12).map((seat) => seat.label))
  }
  // Show ids twice: they are what most bodies and paths refer to.
  const uuids = [open.id, rows.id, closed.id, open.id, rows.id, ...[...pending, confirmed, cancelled, expired].map((booking) => booking.id)]
  // Ids that exist nowhere, for operations that must not find anything (see FuzzOperation.streams).
  const absentIds = ['00000000-0000-4000-8000-000000000000', 'ffffffff-ffff-4fff-bfff-ffffffffffff']
  const ctx: SchemaContext = {
    resolve: (ref) => {
      const name = ref.replace(/^#\/components\/schemas\//, '')
      const schema = doc.components?.schemas?.[name]
      if (schema === undefined) throw new Error(`unresolvable $ref ${ref}`)
      return schema
    },
    uuids,
    tokens
  }

  t.same(documentViolations, [], 'the setup\'s answers match the document')

  const fingerprint = await fingerprinter(db)
  let last = await fingerprint()
  const checker = new Checker()
  const runs = numberFromEnv('FUZZ_RUNS') ?? Math.max(100, Math.ceil(3000 / operations.length))
  // A request body is most of an operation's input space, and where most of its bugs hide.
  const runsOf = (operation: FuzzOperation): number => operation.body === undefined ? runs : 5 * runs
  t.comment(`fuzz seed ${seed} (replay with FUZZ_SEED=${seed}), ${runs} cases per operation, ${5 * runs} with a request body, ${operations.length} operations`)

  /** Sends one request and returns what is wrong with its answer. */
  async function send (request: FuzzRequest, keyHeader: string | undefined): Promise<{ answer: Answer, wrong: string[] }> {
    const key = keyHeader === undefined ? undefined : request.headers[keyHeader]
    const before = key === undefined ? last : await fingerprint(key)
    documentViolations.length = 0
    const response = await withDeadline(app.inject({
      method: request.method as 'GET',
      url: request.url,
      headers: request.headers,
      ...(request.payload !== undefined && { payload: request.payload })
    }), 10_000, `${request.method} ${request.url}`)
    const answer: Answer = { statusCode: response.statusCode, headers: response.headers, body: response.body }
    const wrong = [...checker.violations(request, answer), ...documentViolations]
    const after = await fingerprint(key)
    last = after
    if (answer.statusCode >= 400 && answer.statusCode < 500) {
      const code = parseJson(answer.body)
      const storable = key !== undefined && code.ok && storedRefusals.has(String((code.value as { code?: unknown }).code))
      if (after.main !== before.main) wrong.push('a rejected request changed the database')
      else if (after.keys !== before.keys && !(storable && after.otherKeys === before.otherKeys)) wrong.push('a rejected request changed idempotency_keys')
    }
    return { answer, wrong }
  }

  // FUZZ_DISCOVER=1 keeps going after a failure and reports each distinct kind of violation with
  // the first request that showed it, for triage; the test fails all the same.
  const discover = process.env.FUZZ_DISCOVER === '1'
  let findings = new Map<string, string>()
  const report = (request: FuzzRequest, { answer, wrong }: { answer: Answer, wrong: string[] }): void => {
    if (wrong.length === 0) return
    const message = `${request.method} ${request.url.slice(0, 200)} (${request.kind}) answered ${answer.statusCode} ` +
      `${String(answer.headers['content-type'] ?? '')}: ${wrong.join('; ')}\n${answer.body.slice(0, 600)}`
    if (!discover) throw new Error(message)
    const kind = `${request.method} ${answer.statusCode} ${wrong.join('; ')}`
    if (!findings.has(kind)) findings.set(kind, `${message}\n${describe(request)}\nReplay: FUZZ_SEED=${seed} FUZZ_DISCOVER=1`)
  }

  const started = performance.now()
  let total = 0
  async function check<Ts> (t: Test, property: fc.IAsyncProperty<Ts>, numRuns: number, summary: () => string): Promise<void> {
    findings = new Map()
    const outcome = await fc.check(property, { seed, numRuns, verbose })
    total += outcome.numRuns
    for (const finding of findings.values()) t.fail(finding)
    if (outcome.failed) t.fail(failure(outcome))
    else if (findings.size === 0) t.pass(`${outcome.numRuns} requests${summary()}`)
  }

  for (const operation of operations) {
    const statuses = new Map<number, number>()
    const keyHeader = operation.parameters.find((parameter) => parameter.in === 'header' && parameter.name.toLowerCase() === 'idempotency-key')?.name
    await t.test(`${operation.method} ${operation.path} (${operation.id})`, async (t) => {
      const property = fc.asyncProperty(requests(operation, ctx, absentIds), async (request) => {
        const result = await send(request, keyHeader)
        statuses.set(result.answer.statusCode, (statuses.get(result.answer.statusCode) ?? 0) + 1)
        report(request, result)
      })
      // The statuses show that the fuzzer got past validation into the logic (2xx, 404, 409).
      await check(t, property, runsOf(operation), () =>
        `, answered ${[...statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(' ')}`)
    })
  }

  // Methods the document does not list for a path must be refused as problems too.
  await t.test('methods a path does not document', async (t) => {
    const undocumented = Object.keys(doc.paths).flatMap((path) =>
      ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE']
        // HEAD is served wherever GET is.
        .filter((method) => doc.paths[path]?.[method.toLowerCase()] === undefined && !(method === 'HEAD' && doc.paths[path]?.get !== undefined))
        .map((method) => ({ method, path })))
    if (undocumented.length === 0) return
    const property = fc.asyncProperty(
      fc.constantFrom(...undocumented),
      fc.constantFrom(...uuids, ...absentIds, 'x'),
      fc.option(garbageValue, { nil: undefined }),
      async ({ method, path }, id, payload) => {
        const request: FuzzRequest = {
          method,
          url: path.replace(/\{[^}]+\}/g, id),
          headers: { ...admin, ...(payload !== undefined && { 'content-type': 'application/json' }) },
          ...(payload !== undefined && { payload: JSON.stringify(payload) ?? 'null' }),
          kind: 'undocumented method'
        }
        report(request, await send(request, undefined))
      })
    await check(t, property, Math.max(50, Math.ceil(runs / 2)), () => '')
  })

  t.comment(`${total} requests in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${seed})`)
})
