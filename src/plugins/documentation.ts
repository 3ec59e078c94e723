import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { tags } from '../../api/index.ts'
import { finishDocument } from '../http/document.ts'
import packageJson from '../../package.json' with { type: 'json' }

const info = {
  title: 'Booking API',
  version: packageJson.version,
  description: 'A concurrency-safe ticket booking API. Admins create shows with seats; anyone lists shows, ' +
    'holds seats for a short window, then confirms or cancels. A hold that is not confirmed lapses on its own ' +
    'at `hold_expires_at`.\n\nErrors are RFC 9457 `application/problem+json` with a stable `code` to switch on.'
}

/** The OpenAPI document, built from the routes registered after this plugin; served at /docs/json. */
export const openApiDocument = fp(async function openApiDocument (app: FastifyInstance) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info,
      // Relative, so that "Try it out" in /docs calls the server that serves the page.
      servers: [{ url: '/', description: 'The server serving this document (local, staging or production alike)', }],
      tags,
      components: {
        securitySchemes: {
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN, as `Authorization: Bearer <token>`' }
        }
      }
    },
    transformObject: (document) => 'openapiObject' in document ? finishDocument(document.openapiObject) : document.swaggerObject,
    // Name each component after its $id, so that generated clients get Show, Booking, Problem...
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
  })
}, { name: 'openapi-document' })

/**
 * Swagger UI at /docs. Its own policy, with hashes of its inline script and style, replaces the
 * API's deny-all one on its pages. The page may be served over plain HTTP (a port-forward, a
 * TLS-terminating proxy), where upgrading its requests to HTTPS would break it.
 */
export const documentationPage = fp(async function documentationPage (app: FastifyInstance) {
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, '')
  })
}, { name: 'documentation-page' })
