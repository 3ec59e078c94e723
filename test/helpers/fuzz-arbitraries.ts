import fc from 'fast-check'

/**
 * Arbitraries for hostile-input fuzzing, derived from JSON Schema (the OpenAPI document's
 * dialect): valid values, almost-valid ones (one thing wrong) and garbage. It covers the keywords
 * the document uses; anything it does not know it treats as "any value", so a new keyword makes
 * the fuzzer less precise, never wrong.
 */

export interface JsonSchema {
  $ref?: string
  type?: string | string[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: boolean | JsonSchema
  items?: JsonSchema
  minItems?: number
  maxItems?: number
  uniqueItems?: boolean
  minLength?: number
  maxLength?: number
  pattern?: string
  format?: string
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  exclusiveMaximum?: number
  enum?: unknown[]
  const?: unknown
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  allOf?: JsonSchema[]
}

export interface SchemaContext {
  /** Resolves a `$ref` such as `#/components/schemas/Show`. */
  resolve: (ref: string) => JsonSchema
  /** Ids that exist in the database, so that valid values reach past "not found" into the logic. */
  uuids: readonly string[]
  /** Strings the API handed out (cursors, seat labels), valid values for string parameters. */
  tokens: readonly string[]
}

export function deref (schema: JsonSchema, ctx: SchemaContext): JsonSchema {
  let current = schema
  for (let hops = 0; current.$ref !== undefined; hops++) {
    if (hops > 20) throw new Error(`$ref cycle at ${current.$ref}`)
    current = ctx.resolve(current.$ref)
  }
  return current
}

function typesOf (schema: JsonSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type
  if (schema.type !== undefined) return [schema.type]
  if (schema.properties !== undefined) return ['object']
  if (schema.items !== undefined) return ['array']
  return []
}

/** Sets a property as an own enumerable one, even `__proto__`, so that JSON.stringify sends it. */
export function withProperty (object: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(object)) Object.defineProperty(copy, k, { value: v, enumerable: true, writable: true, configurable: true })
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true })
  return copy
}

/** A choice among alternatives, weighted when it should come up more often than the rest. */
type Option = fc.Arbitrary<unknown> | { arbitrary: fc.Arbitrary<unknown>, weight: number }

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value)

const codePoints = (value: string): number => [...value].length

// ---------------------------------------------------------------------------------------------
// Hostile building blocks
// ---------------------------------------------------------------------------------------------

const sqlFragments = [
  "' OR '1'='1", "'; DROP TABLE bookings; --", '1; SELECT pg_sleep(5)', '" OR 1=1 --',
  "' UNION SELECT key, request_hash FROM idempotency_keys --", "$1", '%', '_', '\\', "E'\\x00'", "');COMMIT;--",
  "1' AND (SELECT count(*) FROM shows) > 0 --", 'NULL', "'||(SELECT version())||'"
]
const htmlFragments = [
  '<script>alert(1)</script>', '<html><body>hi</body></html>', '<img src=x onerror=alert(1)>',
  '"><svg onload=alert(1)>', '{{7*7}}', '${7*7}', '<!--', ']]>', '&lt;script&gt;'
]
// NUL comes in several shapes because PostgreSQL refuses it in text whatever the encoding: it is
// the one character most likely to turn valid-looking text into a database error.
const unicodeFragments = [
  '\u0000', 'a\u0000b', 'x\u0000', '\u0000\u0000', 'Show\u0000name', '\ud800', '\udfff', 'x\ud83d', '😀', '👩‍👩‍👧‍👦', '\u202e', '\ufeff', '\u200b', 'ﷺ', 'Z̷̡͉a̴l̵g̶o',
  '\u{10ffff}', 'İ', 'ß', '\r\n', '\t', '\u2028', '\u0085', 'Ａ１', '١٢٣', '𝟏𝟐'
]
const lexicalOddities = [
  '../../etc/passwd', '%00', '%2e%2e%2f', 'null', 'undefined', 'NaN', 'Infinity', '-Infinity', '-0', '1e308',
  '0x10', '0b1', '1_000', ' 1', '1 ', '+1', '01', 'true', '[]', '{}', '__proto__', 'constructor', 'prototype', ''
]

/** Strings a careless server mishandles: injection fragments, odd unicode, look-alike numbers. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...sqlFragments), weight: 3 },
  { arbitrary: fc.constantFrom(...htmlFragments), weight: 2 },
  { arbitrary: fc.constantFrom(...unicodeFragments), weight: 4 },
  { arbitrary: fc.constantFrom(...lexicalOddities), weight: 2 },
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  // Unpaired surrogates: legal in a JavaScript string, but with no UTF-8 encoding.
  fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)), minLength: 1, maxLength: 5 }),
  fc.tuple(fc.constantFrom('a', '😀', '\u0000', '<', "'", 'é'), fc.constantFrom(256, 1001, 10_000))
    .map(([unit, times]) => unit.repeat(times))
)

/** Numbers at the edges of what JSON, JavaScript, PostgreSQL's int4 and int8 can hold. */
export const hugeNumber: fc.Arbitrary<number> = fc.constantFrom(
  1e308, -1e308, Number.MAX_VALUE, Number.MIN_VALUE, -0, 2 ** 53 + 1, -(2 ** 53 + 1), Number.MAX_SAFE_INTEGER,
  2 ** 31, 2 ** 31 - 1, -(2 ** 31) - 1, 2 ** 63, 2 ** 64, 1e21, 0.1, 1e-7, 1.5
)

/** Nested arrays or objects, deep enough to hurt a recursive validator or serialiser. */
export const deeplyNested: fc.Arbitrary<unknown> = fc.tuple(fc.integer({ min: 20, max: 2000 }), fc.boolean()).map(([depth, arrays]) => {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = arrays ? [value] : { a: value }
  return value
})

/** Any JSON-ish value at all, hostile ones weighted up. */
export const garbageValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.anything({ maxDepth: 2, withNullPrototype: true }),
  hostileString,
  hugeNumber,
  deeplyNested,
  fc.constantFrom(null, true, false, [], {}, '', 0, -1)
)

/** Keys that an object merge or a careless lookup may turn into prototype pollution. */
export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', ' ',
    'id', 'status', '$where', '$ne', 'a'.repeat(300), '\u0000', 'quantity ', 'SHOW_ID'),
  fc.string({ maxLength: 12 })
)

/** Values for the prototype-pollution keys that would show up on every object if they took. */
export const pollutingValue: fc.Arbitrary<unknown> = fc.constantFrom(
  { polluted: 'yes' }, { prototype: { polluted: 'yes' } }, { toString: 'x' }, 'polluted', null
)

/**
 * Forged opaque tokens: base64url JSON, the shape this kind of API uses for cursors, holding
 * timestamps at the edges of what JavaScript and PostgreSQL accept, or nothing sensible at all.
 */
export function forgedToken (ctx: SchemaContext): fc.Arbitrary<string> {
  const dates = fc.constantFrom(
    '-271821-04-20T00:00:00.000Z', '+275760-09-13T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '-004714-11-24T00:00:00Z',
    '1970-01-01T00:00:00.000Z', '2038-01-19T03:14:08Z', '9999-12-31T23:59:59.999Z', '2024-02-30', 'Tue Mar 01 2050',
    'infinity', '-infinity', 'epoch', 'now', '1', ''
  )
  const ids = ctx.uuids.length > 0 ? fc.oneof(fc.constantFrom(...ctx.uuids), fc.uuid()) : fc.uuid()
  const key = fc.oneof(
    fc.tuple(dates, ids),
    fc.tuple(fc.date({ noInvalidDate: true }).map((date) => date.toISOString()), ids),
    fc.tuple(dates, hostileString),
    fc.jsonValue({ maxDepth: 2 })
  )
  return key.map((value) => Buffer.from(JSON.stringify(value) ?? 'null').toString('base64url'))
}

// ---------------------------------------------------------------------------------------------
// Valid values
// ---------------------------------------------------------------------------------------------

/** Timestamps in every shape RFC 3339 allows: past and future, with offsets, with and without fractions. */
const dateTime: fc.Arbitrary<string> = fc.oneof(
  fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString()),
  fc.integer({ min: 60, max: 365 * 86400 }).map((seconds) => new Date(Date.now() + seconds * 1000).toISOString()),
  fc.tuple(fc.integer({ min: 60, max: 365 * 86400 }), fc.constantFrom('+05:30', '-08:00', '+00:00', '+14:00'))
    .map(([seconds, offset]) => new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d+Z$/, offset))
)

function validString (schema: JsonSchema, ctx: SchemaContext): fc.Arbitrary<string> {
  const minLength = schema.minLength ?? 0
  const maxLength = schema.maxLength ?? minLength + 40
  const fits = (value: string): boolean => codePoints(value) >= minLength && codePoints(value) <= maxLength
  if (schema.format === 'uuid') {
    return ctx.uuids.length > 0 ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ctx.uuids) }, { weight: 1, arbitrary: fc.uuid() }) : fc.uuid()
  }
  if (schema.format === 'date-time') return dateTime
  const pattern = schema.pattern !== undefined ? new RegExp(schema.pattern) : undefined
  const unit = fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }))
  const generated = pattern !== undefined
    ? fc.stringMatching(pattern, { maxLength }).filter(fits)
    : fc.string({ unit, minLength, maxLength: Math.min(maxLength, minLength + 40) }).filter(fits)
  // Strings the API itself handed out (cursors, seat labels) are valid in a deeper sense.
  const tokens = ctx.tokens.filter((token) => fits(token) && (pattern === undefined || pattern.test(token)))
  const options: Array<fc.Arbitrary<string> | { arbitrary: fc.Arbitrary<string>, weight: number }> = [{ arbitrary: generated, weight: 4 }]
  if (tokens.length > 0) options.push({ arbitrary: fc.constantFrom(...tokens), weight: 2 })
  // Free text the schema allows may still be SQL, HTML, NUL or a lone surrogate. (Most hostile
  // strings are short: with a long minimum length, filtering them would rarely succeed.)
  if (pattern === undefined && minLength <= 10) options.push(hostileString.filter(fits))
  return fc.oneof(...options)
}

function validInteger (schema: JsonSchema): fc.Arbitrary<number> {
  const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : undefined)
  const max = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : undefined)
  // Unbounded sides get a modest range, small values first (limits the schema cannot express,
  // such as MAX_SEATS_PER_BOOKING, tend to be small); the edges are the almost-valid generator's.
  const low = min ?? (max !== undefined ? max - 300 : -300)
  const high = max ?? low + 300
  return fc.oneof(fc.integer({ min: low, max: Math.min(high, low + 10) }), fc.integer({ min: low, max: high }))
}

/** A value the schema accepts. */
export function validValue (schema: JsonSchema, ctx: SchemaContext, depth = 0): fc.Arbitrary<unknown> {
  const s = deref(schema, ctx)
  if (depth > 12) return fc.constant(null)
  if (s.const !== undefined) return fc.constant(s.const)
  if (s.enum !== undefined) return fc.constantFrom(...s.enum)
  const union = s.anyOf ?? s.oneOf
  if (union !== undefined) return fc.oneof(...union.map((branch) => validValue(branch, ctx, depth + 1)))
  if (s.allOf !== undefined) {
    return fc.tuple(...s.allOf.map((part) => validValue(part, ctx, depth + 1)))
      .map((parts) => parts.every(isPlainObject) ? Object.assign({}, ...parts) : parts[0])
  }
  const types = typesOf(s)
  if (types.length === 0) return fc.jsonValue({ maxDepth: 2 })
  return fc.oneof(...types.map((type) => validOfType(type, s, ctx, depth)))
}

function validOfType (type: string, s: JsonSchema, ctx: SchemaContext, depth: number): fc.Arbitrary<unknown> {
  switch (type) {
    case 'string': return validString(s, ctx)
    case 'integer': return validInteger(s)
    case 'number': return fc.double({ min: s.minimum ?? -1e6, max: s.maximum ?? 1e6, noNaN: true, noDefaultInfinity: true })
    case 'boolean': return fc.boolean()
    case 'null': return fc.constant(null)
    case 'array': {
      const item = s.items !== undefined ? validValue(s.items, ctx, depth + 1) : fc.jsonValue({ maxDepth: 1 })
      const minLength = s.minItems ?? 0
      const maxLength = Math.min(s.maxItems ?? minLength + 5, minLength + 5)
      return s.uniqueItems === true
        ? fc.uniqueArray(item, { minLength, maxLength, selector: (value) => JSON.stringify(value) })
        : fc.array(item, { minLength, maxLength })
    }
    case 'object': {
      const properties = s.properties ?? {}
      const model: Record<string, fc.Arbitrary<unknown>> = {}
      for (const [name, property] of Object.entries(properties)) model[name] = validValue(property, ctx, depth + 1)
      const required = (s.required ?? []).filter((name) => name in model)
      return fc.record(model, { requiredKeys: required })
    }
    default: return fc.jsonValue({ maxDepth: 1 })
  }
}

/**
 * A valid value with one of its strings replaced by a hostile one (SQL, HTML, NUL, a lone
 * surrogate, 10,000 characters): the input most likely to travel intact from the request into a
 * query, a log line or an error message. The schema may or may not still accept it.
 */
export function poisonedValue (schema: JsonSchema, ctx: SchemaContext): fc.Arbitrary<unknown> {
  return validValue(schema, ctx).chain((value) => {
    const paths = stringPaths(value)
    if (paths.length === 0) return fc.constant(value)
    return fc.tuple(fc.constantFrom(...paths), hostileString).map(([path, poison]) => replaceAt(value, path, poison))
  })
}

function stringPaths (value: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof value === 'string') return [at]
  if (Array.isArray(value)) return value.flatMap((item, index) => stringPaths(item, [...at, index]))
  if (isPlainObject(value)) return Object.entries(value).flatMap(([key, item]) => stringPaths(item, [...at, key]))
  return []
}

function replaceAt (value: unknown, path: Array<string | number>, replacement: unknown): unknown {
  const [head, ...rest] = path
  if (head === undefined) return replacement
  if (Array.isArray(value)) return value.map((item, index) => index === head ? replaceAt(item, rest, replacement) : item)
  if (isPlainObject(value)) return withProperty(value, String(head), replaceAt(value[String(head)], rest, replacement))
  return value
}

// ---------------------------------------------------------------------------------------------
// Almost-valid values: valid but for one thing
// ---------------------------------------------------------------------------------------------

const nearMissDateTimes = [
  '2030-02-30T00:00:00Z', '2030-13-01T00:00:00Z', '2030-01-01T25:00:00Z', '2030-01-01T00:00:00', '2030-01-01 00:00:00Z',
  '2030-01-01', '2030-06-30T23:59:60Z', '2099-12-31T23:59:60Z', '9999-12-31T23:59:59-23:59', '0000-01-01T00:00:00Z',
  '+275760-09-13T00:00:00Z', '2030-01-01T00:00:00.123456789Z', '2030-01-01t00:00:00z', '2030-01-01T00:00:00+24:00',
  '1e12', '4102444800000', 'tomorrow', 'infinity', '-infinity', 'epoch', 'now', 'allballs', '2030-01-01T00:00:00Z\n'
]

export function nearMissUuids (ctx: SchemaContext): fc.Arbitrary<string> {
  const base = ctx.uuids.length > 0 ? fc.oneof(fc.constantFrom(...ctx.uuids), fc.uuid()) : fc.uuid()
  return fc.tuple(base, fc.integer({ min: 0, max: 10 })).map(([id, how]) => [
    id.toUpperCase(), `{${id}}`, `urn:uuid:${id}`, id.replaceAll('-', ''), `${id} `, ` ${id}`, `${id}\n`, id.slice(0, -1),
    `${id}0`, id.replace(/[0-9a-f]$/, 'g'), '00000000-0000-0000-0000-000000000000'
  ][how] ?? id)
}

function almostValidString (s: JsonSchema, ctx: SchemaContext): Option[] {
  const valid = validString(s, ctx)
  const options: Option[] = []
  if (s.minLength !== undefined && s.minLength > 0) options.push(fc.constant('x'.repeat(s.minLength - 1)))
  if (s.maxLength !== undefined) options.push(fc.constantFrom('x', '😀', 'é').map((unit) => unit.repeat(s.maxLength! + 1)))
  if (s.pattern !== undefined) {
    options.push(fc.tuple(valid, fc.constantFrom(' ', 'a', '\u0000', 'é', '-', '<', '\n', '😀')).map(([value, extra]) => value + extra))
    options.push(valid.map((value) => value.toLowerCase()))
  }
  if (s.format === 'uuid') options.push(nearMissUuids(ctx))
  if (s.format === 'date-time') options.push(fc.constantFrom(...nearMissDateTimes))
  // Types that a lenient parser would coerce into a string.
  options.push(fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), valid.map((value) => [value]), valid.map((value) => ({ value }))))
  // Injection fragments and odd unicode where the schema allows any text are the likeliest to
  // reach the database intact.
  options.push({ arbitrary: hostileString, weight: 4 }, forgedToken(ctx))
  return options
}

function almostValidNumber (s: JsonSchema, integer: boolean): Option[] {
  const edges: number[] = []
  if (s.minimum !== undefined) edges.push(s.minimum - 1, s.minimum)
  if (s.maximum !== undefined) edges.push(s.maximum + 1, s.maximum)
  const anchor = s.minimum ?? s.maximum ?? 0
  if (integer) edges.push(anchor + 0.5, anchor + 1e-9)
  edges.push(-0, -1, 0)
  return [
    fc.constantFrom(...edges),
    hugeNumber,
    // Numbers sent as strings: the contract says they are not coerced in bodies.
    fc.constantFrom(...edges, 1).map((value) => String(value)),
    fc.constantFrom(null, true, false, [], {}, [anchor], { value: anchor }, 'NaN', 'Infinity')
  ]
}

function almostValidArray (s: JsonSchema, ctx: SchemaContext, depth: number): Option[] {
  const item = s.items !== undefined ? validValue(s.items, ctx, depth + 1) : fc.jsonValue({ maxDepth: 1 })
  const options: Option[] = []
  if (s.minItems !== undefined && s.minItems > 0) options.push(fc.array(item, { maxLength: s.minItems - 1 }))
  if (s.maxItems !== undefined) options.push(fc.array(item, { minLength: s.maxItems + 1, maxLength: s.maxItems + 3 }))
  // Far beyond any sensible bound, but inside the body limit.
  options.push(fc.array(item, { minLength: 50, maxLength: 1000 }))
  if (s.uniqueItems === true) options.push(fc.tuple(item, fc.array(item, { maxLength: 3 })).map(([first, rest]) => [first, ...rest, first]))
  if (s.items !== undefined) {
    options.push(fc.tuple(fc.array(item, { maxLength: 3 }), almostValidValue(s.items, ctx, depth + 1), fc.nat())
      .map(([items, bad, at]) => { const copy = [...items]; copy.splice(at % (copy.length + 1), 0, bad); return copy }))
  }
  options.push(item, fc.constant({}), fc.constant(null))
  return options
}

function almostValidObject (s: JsonSchema, ctx: SchemaContext, depth: number): Option[] {
  const valid = validOfType('object', s, ctx, depth).filter(isPlainObject)
  const properties = Object.entries(s.properties ?? {})
  const options: Option[] = []
  const required = s.required ?? []
  if (required.length > 0) {
    options.push({
      weight: 2,
      arbitrary: fc.tuple(valid, fc.constantFrom(...required)).map(([object, drop]) => {
        const copy = { ...object }
        delete copy[drop]
        return copy
      })
    })
  }
  if (s.additionalProperties === false || s.additionalProperties === undefined) {
    options.push({ weight: 2, arbitrary: fc.tuple(valid, hostileKey, fc.oneof(garbageValue, pollutingValue)).map(([object, key, value]) => withProperty(object, key, value)) })
  }
  if (properties.length > 0) {
    // One bad property in an otherwise valid object gets furthest into the code.
    options.push({
      weight: 6,
      arbitrary: fc.constantFrom(...properties).chain(([name, property]) =>
        fc.tuple(valid, almostValidValue(property, ctx, depth + 1)).map(([object, bad]) => withProperty(object, name, bad)))
    })
  }
  options.push(fc.constant([]), fc.constant(null), valid.map((object) => [object]), valid.map((object) => JSON.stringify(object)))
  return options
}

/**
 * A value that is valid but for one thing: a boundary just crossed, a required property dropped,
 * an unknown one added, a type swapped, a format nearly right. These reach deeper than garbage,
 * past the parser into the validator's edges and the code behind it.
 */
export function almostValidValue (schema: JsonSchema, ctx: SchemaContext, depth = 0): fc.Arbitrary<unknown> {
  const s = deref(schema, ctx)
  if (depth > 12) return garbageValue
  const options: Option[] = [{ arbitrary: garbageValue, weight: 1 }]
  if (s.enum !== undefined || s.const !== undefined) {
    const values = s.enum ?? [s.const]
    options.push(fc.constantFrom(...values).chain((value) => typeof value === 'string'
      ? fc.constantFrom(value.toLowerCase(), ` ${value}`, `${value}\u0000`, `${value}s`)
      : fc.constant(String(value))))
    options.push(fc.constantFrom(...values).map((value) => [value]))
  }
  const union = s.anyOf ?? s.oneOf
  if (union !== undefined) {
    options.push(...union.map((branch) => almostValidValue(branch, ctx, depth + 1)))
    // Two branches at once (`quantity` and `seats`): valid for each alone, for neither together.
    if (union.length > 1) {
      options.push(fc.tuple(...union.map((branch) => validValue(branch, ctx, depth + 1)))
        .map((values) => values.every(isPlainObject) ? Object.assign({}, ...values) : values))
    }
  }
  for (const type of typesOf(s)) {
    switch (type) {
      case 'string': options.push(...almostValidString(s, ctx)); break
      case 'integer': options.push(...almostValidNumber(s, true)); break
      case 'number': options.push(...almostValidNumber(s, false)); break
      case 'array': options.push(...almostValidArray(s, ctx, depth)); break
      case 'object': options.push(...almostValidObject(s, ctx, depth)); break
      default: break
    }
  }
  return fc.oneof(...options)
}
