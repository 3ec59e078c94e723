import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { Health, Ready } from '../../api/index.ts'
import { sendProblem } from '../http/problems.ts'
import { readinessProblem } from '../http/readiness-problem.ts'
import { jsonResponse, problemResponse } from '../http/responses.ts'
import { neverShed } from '../plugins/load-shedding.ts'

export interface OperationsOptions {
  /** Resolves to the migrations not yet applied; rejects when the database does not answer. */
  pendingMigrations: () => Promise<string[]>
}

const operations: FastifyPluginAsyncTypebox<OperationsOptions> = async (app, { pendingMigrations }) => {
  // Load balancers must see the truth under load too: shedding these would take a busy but
  // healthy instance out of rotation and pile its load onto the others.
  app.get('/health', {
    config: neverShed,
    schema: {
      operationId: 'getHealth',
      tags: ['operations'],
      security: [],
      summary: 'Liveness: the process is up (no database call)',
      response: { 200: jsonResponse(Type.Ref(Health), 'The process is up') }
    }
  }, async () => ({ status: 'ok' as const }))

  app.get('/ready', {
    config: neverShed,
    schema: {
      operationId: 'getReady',
      tags: ['operations'],
      security: [],
      summary: 'Readiness: the database answers and every migration is applied',
      response: {
        200: jsonResponse(Type.Ref(Ready), 'Ready to serve'),
        503: problemResponse({ service_unavailable: 'the database does not answer, migrations are pending, or the server is shutting down' })
      }
    }
  }, async (request, reply) => {
    const unready = await readinessProblem({
      draining: app.lifecycle.draining(),
      pendingMigrations,
      databaseFailed: (error) => { request.log.warn({ err: error }, 'readiness check: database not answering') }
    })
    if (unready !== undefined) return await sendProblem(reply, unready)
    return { status: 'ready' as const }
  })
}

export default operations
