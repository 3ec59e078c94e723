/** Touches to the generated OpenAPI document that @fastify/swagger cannot express per route. */

interface Operation { requestBody?: { required?: boolean, content?: Record<string, { schema?: { $ref?: string } }> } }

const emptyRequest = '#/components/schemas/EmptyRequest'

/** @fastify/swagger marks every body required; a route whose body is EmptyRequest takes none. */
export function optionalEmptyBodies<T extends { paths?: object }> (document: T): T {
  for (const operations of Object.values(document.paths ?? {}) as Array<Record<string, Operation>>) {
    for (const operation of Object.values(operations)) {
      const body = operation.requestBody
      if (body !== undefined && Object.values(body.content ?? {}).every((media) => media.schema?.$ref === emptyRequest)) body.required = false
    }
  }
  return document
}
