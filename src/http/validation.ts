import type { TSchema } from '@sinclair/typebox'
import { Ajv, type Options } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

const shared: Options = { allErrors: true, removeAdditional: false, useDefaults: true, strict: false }

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
    (httpPart === 'body' ? compilers.body : compilers.text).compile(schema))
}, { name: 'validation' })
