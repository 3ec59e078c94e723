import type { TSchema } from '@sinclair/typebox'
import { Ajv, type Options, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

const shared: Options = { allErrors: true, removeAdditional: false, useDefaults: true, strict: false }

/**
 * A body validator that takes an absent body (none sent, or an empty one sent as JSON; Fastify
 * hands either over as null, as it does a JSON `null`) as `{}`: a route whose body has no required
 * member (confirm, cancel) accepts it, every other route names the members that are missing, and
 * a body that is there is checked as sent.
 */
function absentAsEmpty (validate: ValidateFunction): ValidateFunction {
  const wrapped = ((data: unknown) => validate(data ?? {})) as ValidateFunction
  return Object.defineProperty(wrapped, 'errors', { get: () => validate.errors })
}

/** The branches of a union schema (`anyOf`), also behind a `$ref`; undefined for any other schema. */
function unionBranches (ajv: Ajv, schema: { $ref?: unknown }): object[] | undefined {
  const target: unknown = typeof schema.$ref === 'string' ? ajv.getSchema(schema.$ref)?.schema : schema
  const branches = (target as { anyOf?: unknown } | undefined)?.anyOf
  return Array.isArray(branches) ? branches as object[] : undefined
}

/**
 * A union body (`quantity` or `seats`, `total_seats` or `rows`) that fails is reported as the
 * branch that came closest, the fewest complaints, which is the one the client meant: ajv's own
 * errors mix every branch's, and cannot always be told apart (a branch behind a `$ref` reports
 * paths from its own root).
 */
function closestBranch (ajv: Ajv, validate: ValidateFunction, branches: object[]): ValidateFunction {
  const checks = branches.map((branch) => ajv.compile(branch))
  let errors: ValidateFunction['errors'] = null
  const wrapped = ((data: unknown) => {
    if (validate(data)) {
      errors = null
      return true
    }
    errors = checks.map((check) => check(data) ? [] : check.errors ?? []).sort((a, b) => a.length - b.length)[0] ?? validate.errors
    return false
  }) as ValidateFunction
  return Object.defineProperty(wrapped, 'errors', { get: () => errors })
}

/** The body's validator: absent bodies as `{}`, unions reported by their closest branch. */
function bodyValidator (ajv: Ajv, schema: object): ValidateFunction {
  const validate = ajv.compile(schema)
  const branches = unionBranches(ajv, schema)
  return absentAsEmpty(branches === undefined ? validate : closestBranch(ajv, validate, branches))
}

/**
 * Request validation as the contract wants it: bodies are taken as sent (no coercion of strings
 * into numbers, unknown properties rejected), while query strings, path parameters and headers,
 * which are text by nature, are coerced to their schema's types.
 */
export default fp(async function validation (app: FastifyInstance, options: { schemas: TSchema[] }) {
  const compilers = {
    body: addFormats.default(new Ajv({ ...shared, coerceTypes: false })),
    text: addFormats.default(new Ajv({ ...shared, coerceTypes: true }))
  }
  for (const schema of options.schemas) {
    app.addSchema(schema)
    compilers.body.addSchema(schema)
    compilers.text.addSchema(schema)
  }
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? bodyValidator(compilers.body, schema) : compilers.text.compile(schema))

  // An empty body sent as application/json is no body (Fastify's own parser refuses it), so that
  // clients that always send the header can confirm and cancel.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) done(null, undefined)
    else parseJson(request, body.toString(), done)
  })
}, { name: 'validation' })
