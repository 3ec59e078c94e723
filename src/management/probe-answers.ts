import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { Problem } from '../../api/problems.ts'
import { problem, problemContentType } from '../http/problem-document.ts'

/** The checks behind the management port's two routes: nothing when all is well, else why not. */
export interface Probes {
  health: () => Problem | undefined
  ready: () => Promise<Problem | undefined>
}

// The main port's bodies for success, as api/operations.ts describes them.
const routes = {
  '/health': { status: 'ok' },
  '/ready': { status: 'ready' }
} as const
type Route = keyof typeof routes

const isRoute = (path: string): path is Route => Object.hasOwn(routes, path)
const allow = 'GET, HEAD'

function send (request: IncomingMessage, response: ServerResponse, status: number, contentType: string, body: object, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  response.writeHead(status, { 'content-type': `${contentType}; charset=utf-8`, 'content-length': Buffer.byteLength(text), ...headers })
  response.end(request.method === 'HEAD' ? undefined : text)
}

function sendProblem (request: IncomingMessage, response: ServerResponse, path: string, body: Problem, headers: Record<string, string> = {}): void {
  send(request, response, body.status, problemContentType, { ...body, instance: path }, { ...(body.status === 503 && { 'retry-after': '1' }), ...headers })
}

/**
 * GET (and HEAD) /health and /ready answered as the main port answers them: the same statuses,
 * bodies and content types, problem documents for every failure, trailing slashes ignored.
 */
export function answerProbes (probes: Probes): RequestListener {
  return (request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/'
    const route = path.length > 1 ? path.replace(/\/$/, '') : path
    if (!isRoute(route)) return sendProblem(request, response, path, problem('route_not_found', `No route ${request.method ?? ''} ${path}`))
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return sendProblem(request, response, path, problem('method_not_allowed', `${path} takes ${allow}`), { allow })
    }
    const check = route === '/health' ? Promise.resolve(probes.health()) : probes.ready()
    void check.then((failure) => {
      if (failure === undefined) send(request, response, 200, 'application/json', routes[route])
      else sendProblem(request, response, path, failure)
    })
  }
}
