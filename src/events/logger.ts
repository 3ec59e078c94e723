/** What src/events logs through: a pino logger (Fastify's app.log) fits. */
export interface EventsLogger {
  info: (object: object, message: string) => void
  warn: (object: object, message: string) => void
}

export const silentLogger: EventsLogger = { info: () => {}, warn: () => {} }
