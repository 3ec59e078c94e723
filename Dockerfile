# The booking API's image. The build stage runs `make build` with every dependency; the runtime
# stage holds the compiled JavaScript (dist/, migrations included) and production dependencies
# only, and runs as the unprivileged `node` user. Migrations are a one-shot command of the same
# image:  docker run --rm -e DATABASE_URL=... booking-api node dist/scripts/migrate.js up

FROM node:24-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN make build

FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts only fetch a second Node (the `node` package, for machines with an older one)
# and prepare the embedded PostgreSQL; the image has Node 24 and is given a database. npm install
# (from the lock file) rather than npm ci, which refuses a lock file without other platforms'
# optional dbmate binaries, which this one is.
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
ENV HOST=0.0.0.0 PORT=3000
EXPOSE 3000
# /health says the process answers; /ready (the database answers too) is for load balancers. On
# the management port when one is set, which a busy main thread does not delay.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.MANAGEMENT_PORT ?? process.env.PORT}/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The heap settings of make start-prod.
CMD ["node", "--max-semi-space-size=16", "--max-old-space-size=512", "dist/src/main.js"]
