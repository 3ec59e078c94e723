import { Type, type TSchema } from '@sinclair/typebox'
import { problemExample, problemOf, type ProblemCode } from '../../api/index.ts'
import { problemContentType } from './problems.ts'

/**
 * A problem response for the document: the codes a client may see, what each means here (and a
 * `note` on them all), their schemas, which generated clients tell apart by `code`, and an example
 * of each.
 */
export function problemResponse (meanings: Partial<Record<ProblemCode, string>>, note?: string) {
  const codes = Object.keys(meanings) as ProblemCode[]
  const description = [codes.map((code) => `${code}: ${meanings[code]}`).join('; '), ...(note === undefined ? [] : [note])].join('. ')
  const examples = Object.fromEntries(codes.map((code) => [code, { summary: code, value: problemExample(code) }]))
  return { description, content: { [problemContentType]: { schema: problemOf(codes), examples } } }
}

export function jsonResponse<T extends TSchema> (schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } }
}

/** A 201: the new resource, and its URL in Location. */
export function createdResponse<T extends TSchema> (schema: T, description: string, location: string) {
  return { ...jsonResponse(schema, description), headers: { location: Type.String({ format: 'uri-reference', description: `The new resource: ${location}` }) } }
}

export const validationFailed = problemResponse({ validation_failed: 'the request does not match the schema; `errors` lists each problem' })

const retryAfter = Type.Integer({ minimum: 1, maximum: 3600, description: 'Seconds to wait before retrying' })

/** What a route that uses the database may answer besides its own outcomes. */
export const databaseProblems = {
  503: {
    ...problemResponse({ service_unavailable: 'the database is not answering', overloaded: 'the server sheds load' }, 'Retry after Retry-After seconds'),
    headers: { 'Retry-After': retryAfter }
  }
}

/** What a rate-limited route may answer besides its own outcomes (RATE_LIMIT_* settings). */
export const rateLimitProblems = {
  429: {
    ...problemResponse({ rate_limited: 'too many requests from this client' }, 'Retry after Retry-After seconds'),
    headers: {
      'Retry-After': retryAfter,
      'X-RateLimit-Limit': Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Requests allowed per minute' }),
      'X-RateLimit-Remaining': Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Requests left in this minute' }),
      'X-RateLimit-Reset': Type.Integer({ minimum: 0, maximum: 3600, description: 'Seconds until the limit resets' })
    }
  }
}

/** What a route that takes a body may answer: a body that is invalid or not JSON, too large, or of another type. */
export const bodyProblems = {
  400: validationFailed,
  413: problemResponse({ payload_too_large: 'the body is larger than 64 KiB' }),
  415: problemResponse({ unsupported_media_type: 'send the body as application/json' })
}
