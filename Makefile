# The booking API. `make start` serves it; `make test` tests it. Neither needs anything but Node and
# npm: dependencies are installed on first use, and with no database configured an embedded
# PostgreSQL runs with its data in .data/.

SHELL := /bin/bash
# The supported runtime is Node 24, a pinned dependency (package.json `node`): with node_modules/.bin
# first on the PATH, every recipe, npx tool and npm script runs on it whatever Node the machine has.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
TSX := node --import tsx
# A request's garbage is small and short-lived: a young generation big enough that its collections
# stay rare under a sale, and a heap limit that makes V8 collect before growing, keep the server's
# footprint bounded, with room left for many of the largest seat maps in flight at once (figures:
# docs/design.md, Memory).
SERVER_NODE_FLAGS := --max-semi-space-size=16 --max-old-space-size=512
DBMATE := npx dbmate --migrations-dir db/migrations

.PHONY: help install build start-prod migrate-prod start test migrate rollback status new-migration codegen openapi client lint-openapi generate check-generated typecheck bench explain-hold citus-start citus-stop bench-citus clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-16s %s\n", $$1, $$2 }'

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund
	@touch $@

install: node_modules/.installed ## Install dependencies from package-lock.json when it changed

start: install ## Serve the API on HOST:PORT (0.0.0.0:3000); embedded PostgreSQL when no database is configured
	node $(SERVER_NODE_FLAGS) --import tsx src/main.ts

# What a production host runs: plain JavaScript in dist/ (the server, the migration command, the
# migrations they apply, the package.json the server reads its version from), started with
# production dependencies only. The embedded database's data under dist/.data survives a rebuild.
DIST := dist

build: install ## Compile the server and the migration command to JavaScript in dist/ (tsconfig.build.json)
	rm -rf $(DIST)/src $(DIST)/api $(DIST)/scripts $(DIST)/db
	npx tsc -p tsconfig.build.json --outDir $(DIST)
	mkdir -p $(DIST)/db && cp -R db/migrations $(DIST)/db/

start-prod: ## Serve the built API (make build first); needs only production dependencies
	node $(SERVER_NODE_FLAGS) $(DIST)/src/main.js

migrate-prod: ## Apply pending migrations with the built command (make build first)
	node $(DIST)/scripts/migrate.js up

test: install ## Run the tests (TEST_DATABASE_URL, else testcontainers, else embedded PostgreSQL)
	$(TSX) scripts/test.ts

migrate: install ## Apply pending migrations to DATABASE_URL / PG* / the embedded database
	$(TSX) scripts/migrate.ts up

rollback: install ## Roll back the last migration
	$(TSX) scripts/migrate.ts rollback

status: install ## Show which migrations are applied
	$(TSX) scripts/migrate.ts status

new-migration: install ## Create db/migrations/<timestamp>_$(name).sql: make new-migration name=add_venues
	@test -n "$(name)" || { echo 'usage: make new-migration name=what_it_does' >&2; exit 2; }
	$(DBMATE) new $(name)

codegen: install ## Regenerate src/db/types.ts and db/schema.sql from the migrations
	$(TSX) scripts/codegen.ts

openapi: install ## Regenerate openapi.yaml from the routes' TypeBox schemas
	$(TSX) scripts/openapi.ts

client: openapi ## Regenerate the typed client's types (api/client/openapi.ts) from openapi.yaml
	npx openapi-typescript openapi.yaml -o api/client/openapi.ts

lint-openapi: openapi ## Lint openapi.yaml with Redocly (redocly.yaml) and Spectral's OpenAPI and OWASP rules (.spectral.yaml)
	npx redocly lint openapi.yaml --format=stylish
	npx spectral lint openapi.yaml --fail-severity=warn

generate: codegen openapi client ## Regenerate every generated file

GENERATED := openapi.yaml api/client/openapi.ts src/db/types.ts db/schema.sql

check-generated: generate ## Fail when a generated file differs from what the code and migrations produce
	@git diff --exit-code -- $(GENERATED) || { echo 'Generated files are stale: run make generate and commit the result.' >&2; exit 1; }

typecheck: install ## Type-check everything (TypeScript strict)
	npx tsc --noEmit -p .

# The stampede holds 2,000 connections open on each side: the open-file limit goes up to the hard one.
bench: install ## Load-test the API and its database (BENCH_SCALE, BENCH_SECONDS, BENCH_PHASES=stampede,lapsed); results in bench/results/
	ulimit -Sn hard; SERVER_NODE_FLAGS="$(SERVER_NODE_FLAGS)" node --expose-gc --import tsx scripts/bench/run.ts

explain-hold: install ## EXPLAIN (ANALYZE, BUFFERS) of the hold statement on a show whose first half has lapsed unswept
	$(TSX) scripts/explain-hold.ts

# A coordinator and two workers on ports 9700-9702 of 127.0.0.1, data in .citus/ (scripts/citus-cluster.sh
# for the settings). Needs Citus installed into PostgreSQL 15: ../shared/citus/install.sh.
citus-start: ## Start a local Citus cluster (coordinator + 2 workers); prints its DATABASE_URL
	scripts/citus-cluster.sh start

citus-stop: ## Stop the local Citus cluster (its data stays in .citus/)
	scripts/citus-cluster.sh stop

# The bench on the local Citus cluster: every bench database is distributed over its workers.
bench-citus: citus-start ## make bench with its databases on the local Citus cluster (BENCH_PHASES etc. as for bench)
	TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$${CITUS_PORT:-9700}/postgres $(MAKE) bench

clean: ## Remove the embedded database, the Citus cluster's data, the build and test output (not node_modules)
	scripts/citus-cluster.sh stop
	rm -rf .data .citus .tap dist
