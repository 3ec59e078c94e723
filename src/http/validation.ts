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
    httpPart === 'body' ? absentAsEmpty(compilers.body.compile(schema)) : compilers.text.compile(schema))

  // An empty body sent as application/json is no body (Fastify's own parser refuses it), so that
  // clients that always send the header can confirm and cancel.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) done(null, undefined)
    else parseJson(request, body.toString(), done)
  })
}, { name: 'validation' })
