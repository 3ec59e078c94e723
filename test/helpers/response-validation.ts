import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyInstance } from 'fastify'
import { components } from '../../api/index.ts'

interface DocumentedResponse {
  /** 'null' for an answer without a body (a 304). */
  type?: string
  content?: Record<string, { schema: object }>
}

function componentsAjv (): Ajv {
  const ajv = addFormats.default(new Ajv({ allErrors: true, strict: false }))
  for (const schema of components) ajv.addSchema(schema)
  return ajv
}

/**
 * A check of values against one named component of the document (`Booking`), for what no route's
 * response schema covers, such as the data of events: the errors as text, or undefined.
 */
export function componentCheck (id: string): (value: unknown) => string | undefined {
  const ajv = componentsAjv()
  const validate = ajv.getSchema(id)
  if (validate === undefined) throw new Error(`no component ${id}`)
  return (value) => validate(value) ? undefined : ajv.errorsText(validate.errors)
}

/**
 * Checks every response the app sends against the schema its route documents for that status and
 * content type, so the OpenAPI document cannot drift from what the server does. Routes without a
 * schema (Swagger UI's static files, unknown routes) are not checked.
 */
export function validateResponses (app: FastifyInstance, report: (problem: string) => void): void {
  const ajv = componentsAjv()
  const compiled = new Map<object, ValidateFunction>()

  app.addHook('onSend', async (request, reply, payload) => {
    const responses = request.routeOptions.schema?.response as Record<string, DocumentedResponse> | undefined
    if (responses === undefined) return payload
    const where = `${request.method} ${request.routeOptions.url ?? request.url} answered ${reply.statusCode}`
    const documented = responses[String(reply.statusCode)]
    if (documented === undefined) {
      report(`${where}, a status its route does not document`)
      return payload
    }
    if (documented.type === 'null') {
      if (String(payload ?? '') !== '') report(`${where} with a body, where its route documents none`)
      return payload
    }
    const type = String(reply.getHeader('content-type')).split(';')[0] ?? ''
    const schema = documented.content?.[type]?.schema
    if (schema === undefined) {
      report(`${where} as ${type}, which its route does not document`)
      return payload
    }
    let validate = compiled.get(schema)
    if (validate === undefined) {
      validate = ajv.compile(schema)
      compiled.set(schema, validate)
    }
    const body = type.endsWith('json') ? JSON.parse(String(payload)) : String(payload)
    if (!validate(body)) {
      report(`${where} with a body that does not match its schema: ${ajv.errorsText(validate.errors)}`)
    }
    return payload
  })
}
