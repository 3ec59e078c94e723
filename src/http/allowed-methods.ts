import type { FastifyInstance } from 'fastify'

/**
 * The methods each registered path takes, for answering a wrong method on a real path with 405
 * and `Allow` instead of 404. Call before the routes are registered: it learns them as they are.
 */
export function allowedMethods (app: FastifyInstance): (path: string) => string[] {
  const routes: Array<{ pattern: RegExp, methods: string[] }> = []
  app.addHook('onRoute', ({ url, method }) => {
    // A catch-all (CORS preflights: OPTIONS *) says nothing about which paths exist.
    if (url === '*' || url === '/*') return
    const source = url.split('/').map((segment) => segment === '*' ? '.*' : segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('/')
    routes.push({ pattern: new RegExp(`^${source}/?$`), methods: [method].flat() })
  })
  return (path) => [...new Set(routes.filter(({ pattern }) => pattern.test(path)).flatMap(({ methods }) => methods))].sort()
}
