import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemCatalogue, problemCodes, type ProblemCode } from '../../api/index.ts'
import { problem, problemPage, sendProblem } from '../http/problems.ts'
import { problemResponse } from '../http/responses.ts'

const entry = (code: ProblemCode): string => {
  const { status, title, description } = problemCatalogue[code]
  return `${code}\n${status} ${title}\n\n${description}\n\nThe page: ${problemPage(code)}\n`
}

// Plain text: readable in a browser, and the API never serves markup (test/fuzz checks it).
const text = { description: 'A plain-text page', content: { 'text/plain': { schema: Type.String({ maxLength: 20_000 }) } } }

/** The pages that problem `type`s point at: what each code means and what a client should do. */
const problems: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/problems', {
    schema: { operationId: 'listProblemCodes', tags: ['problems'], security: [], summary: 'Every problem code, what it means and what to do', response: { 200: text } }
  }, async (_request, reply) => await reply.type('text/plain; charset=utf-8').send(`Problem codes of the Booking API\n\n${problemCodes.map(entry).join('\n')}`))

  app.get('/problems/:code', {
    schema: {
      operationId: 'getProblemCode',
      tags: ['problems'],
      security: [],
      summary: 'What one problem code means (the page a problem\'s `type` names)',
      params: Type.Object({ code: Type.String({ maxLength: 1000, description: 'A problem code' }) }),
      response: { 200: text, 404: problemResponse({ route_not_found: 'no such problem code' }) }
    }
  }, async (request, reply) => {
    const { code } = request.params
    if (!Object.hasOwn(problemCatalogue, code)) return await sendProblem(reply, problem('route_not_found', `No problem code ${code}`))
    return await reply.type('text/plain; charset=utf-8').send(entry(code as ProblemCode))
  })
}

export default problems
