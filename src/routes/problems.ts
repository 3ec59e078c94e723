import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemCatalogue, problemCodes, type ProblemCode } from '../../api/index.ts'
import { problem, problemPage, sendProblem } from '../http/problems.ts'
import { problemResponse } from '../http/responses.ts'

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`)

/** `code` spans in a description's backticks, the rest escaped. */
const describe = (text: string): string =>
  escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>')

const page = (title: string, body: string): string =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>${body}</body></html>`

const entry = (code: ProblemCode): string => {
  const { status, title, description } = problemCatalogue[code]
  return `<h2 id="${code}"><a href="${problemPage(code)}">${code}</a></h2><p>${status} · ${escapeHtml(title)}</p><p>${describe(description)}</p>`
}

const html = { description: 'An HTML page', content: { 'text/html': { schema: Type.String() } } }

/** The pages that problem `type`s point at: what each code means and what a client should do. */
const problems: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/problems', {
    schema: { operationId: 'listProblemCodes', tags: ['problems'], security: [], summary: 'Every problem code, what it means and what to do', response: { 200: html } }
  }, async (_request, reply) => await reply.type('text/html').send(page('Problem codes', `<h1>Problem codes</h1>${problemCodes.map(entry).join('')}`)))

  app.get('/problems/:code', {
    schema: {
      operationId: 'getProblemCode',
      tags: ['problems'],
      security: [],
      summary: 'What one problem code means (the page a problem\'s `type` names)',
      params: Type.Object({ code: Type.String() }),
      response: { 200: html, 404: problemResponse('route_not_found: no such problem code') }
    }
  }, async (request, reply) => {
    const { code } = request.params
    if (!Object.hasOwn(problemCatalogue, code)) return await sendProblem(reply, problem(404, 'route_not_found', `No problem code ${code}`))
    return await reply.type('text/html').send(page(code, entry(code as ProblemCode)))
  })
}

export default problems
