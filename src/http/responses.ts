import { Type, type TSchema } from '@sinclair/typebox'
import { Problem } from '../../api/index.ts'
import { problemContentType } from './problems.ts'

/** A problem response for the document: its content type and the codes a client may see. */
export function problemResponse (description: string) {
  return { description, content: { [problemContentType]: { schema: Type.Ref(Problem) } } }
}

export function jsonResponse<T extends TSchema> (schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } }
}

export const validationFailed = problemResponse('validation_failed: the request does not match the schema; `errors` lists each problem')
export const serviceUnavailable = problemResponse('service_unavailable: the database is not answering; retry after Retry-After seconds')
