import { problemCatalogue, type Problem, type ProblemCode, type ProblemMembers } from '../../api/problems.ts'

/**
 * Problem documents without Fastify or the engine, so that the management port's thread can build
 * them without loading either.
 */

export const problemContentType = 'application/problem+json'

/** The page that describes a problem code, relative to the service (GET /problems/{code}). */
export const problemPage = (code: ProblemCode): string => `/problems/${code}`

/**
 * A problem of `code`, with its status and title from the catalogue and the members the code
 * requires (`{ available }` for insufficient_seats).
 */
export function problem<C extends ProblemCode> (code: C, detail: string, ...members: {} extends ProblemMembers<C> ? [] : [ProblemMembers<C>]): Problem {
  const { status, title } = problemCatalogue[code]
  return { type: problemPage(code), title, status, detail, code, ...members[0] } as Problem
}
