# syntax=docker/dockerfile:1
# drc coordinator image. Build from the repository root:
#   docker build -f deploy/docker/coordinator.Dockerfile -t drc-coordinator .
# Sources run with tsx as in development (there is no separate build output), on Node 24 LTS.
ARG NODE_IMAGE=node:24-bookworm-slim

# 1. Only the package manifests, so the dependency layer below is rebuilt when a manifest
#    changes, not on every source edit (and new workspaces are picked up without editing this).
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir /manifests \
 && cp package.json package-lock.json .npmrc /manifests/ \
 && find . -name package.json -not -path './node_modules/*' -not -path './package.json' -exec cp --parents {} /manifests/ \;

# 2. Production dependencies of every workspace (tsx included: it is a runtime dependency).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && node --import tsx -e "" \
 && npm cache clean --force

# 3. The runtime: dependencies, sources, nothing else; runs as the unprivileged `node` user.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    DRC_DATA_DIR=/var/lib/drc/eventstore
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY contracts ./contracts
COPY statecharts ./statecharts
COPY services ./services
COPY examples ./examples
# The stream set-up step (compose runs it once before the coordinators; see deploy/README.md).
COPY deploy/nats/create-streams.ts ./deploy/nats/create-streams.ts
# Writable only where drc writes: the embedded event store when no DATABASE_URL is set.
RUN mkdir -p /var/lib/drc && chown node:node /var/lib/drc
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "--import", "tsx", "services/coordinator/src/main.ts"]
CMD ["--config", "/etc/drc/drc.yaml", "--host", "0.0.0.0", "--port", "8080"]
