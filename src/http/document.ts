/** Touches to the generated OpenAPI document that @fastify/swagger cannot express per route. */
import { problemExample, problemSchemas } from '../../api/index.ts'
import { problemContentType } from './problems.ts'

interface Operation {
  requestBody?: { required?: boolean, content?: Record<string, { schema?: { $ref?: string } }> }
  responses?: Record<string, unknown>
}

const operationsOf = (document: { paths?: object }): Operation[] =>
  (Object.values(document.paths ?? {}) as Array<Record<string, Operation>>).flatMap((operations) => Object.values(operations))

const emptyRequest = '#/components/schemas/EmptyRequest'

/** @fastify/swagger marks every body required; a route whose body is EmptyRequest takes none. */
function optionalEmptyBodies (document: { paths?: object }): void {
  for (const operation of operationsOf(document)) {
    const body = operation.requestBody
    if (body !== undefined && Object.values(body.content ?? {}).every((media) => media.schema?.$ref === emptyRequest)) body.required = false
  }
}

/** The error handler can end any request in a 500 internal_error problem; the document says so once per operation. */
function anyOperationMayFail (document: { paths?: object }): void {
  const internalError = {
    description: 'internal_error: something went wrong on the server; it was logged',
    content: { [problemContentType]: { schema: { $ref: `#/components/schemas/${problemSchemas.internal_error.$id}` }, examples: { internal_error: { summary: 'internal_error', value: problemExample('internal_error') } } } }
  }
  for (const operation of operationsOf(document)) operation.responses = { ...operation.responses, 500: internalError }
}

interface ComponentSchema { additionalProperties?: unknown, properties?: Record<string, unknown>, anyOf?: Array<{ $ref?: string }> }

/**
 * A union of closed objects (CreateBookingRequest, CreateShowRequest) refuses a body with members of two variants,
 * but a generated client's union type accepts one. Each variant lists its siblings' other members
 * as `false` (never present), which the validation already means and generated types say as `never`.
 */
function exclusiveVariants (document: { components?: object }): void {
  const schemas = (document.components as { schemas?: Record<string, ComponentSchema> } | undefined)?.schemas ?? {}
  for (const union of Object.values(schemas)) {
    const names = (union.anyOf ?? []).map((variant) => variant.$ref?.replace('#/components/schemas/', '') ?? '')
    if (names.length < 2 || names.some((name) => schemas[name]?.additionalProperties !== false)) continue
    const members = new Set(names.flatMap((name) => Object.keys(schemas[name]?.properties ?? {})))
    for (const name of names) {
      const own = schemas[name]?.properties ?? {}
      const absent = [...members].filter((member) => !(member in own)).map((member) => [member, false])
      // A copy: the schemas the routes validate with stay as they are.
      schemas[name] = { ...schemas[name], properties: { ...own, ...Object.fromEntries(absent) } }
    }
  }
}

/** The generated document, finished: the touches above, and its servers marked public (OWASP API9). */
export function finishDocument<T extends { paths?: object, servers?: object[], components?: object }> (document: T): T {
  optionalEmptyBodies(document)
  exclusiveVariants(document)
  anyOperationMayFail(document)
  for (const server of document.servers ?? []) Object.assign(server, { 'x-internal': false })
  return document
}
