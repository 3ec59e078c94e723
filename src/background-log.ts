/** What background work (the expiry job, live availability) logs through: pino (Fastify's app.log) fits. */
export interface Log {
  info: (details: object, message: string) => void
  warn: (details: object, message: string) => void
}

export const silentLog: Log = { info: () => {}, warn: () => {} }
