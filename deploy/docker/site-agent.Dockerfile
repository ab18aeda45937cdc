# syntax=docker/dockerfile:1
# drc site agent image. Build from the repository root:
#   docker build -f deploy/docker/site-agent.Dockerfile -t drc-site-agent .
# For simulated workloads and drivers that reach their systems over the network. An agent that
# drives local PostgreSQL or libvirt belongs on the datacenter host (deploy/systemd).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir /manifests \
 && cp package.json package-lock.json .npmrc /manifests/ \
 && find . -name package.json -not -path './node_modules/*' -not -path './package.json' -exec cp --parents {} /manifests/ \;

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && node --import tsx -e "" \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    DRC_STATE_DIR=/var/lib/drc/agent
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY contracts ./contracts
COPY statecharts ./statecharts
COPY services ./services
COPY examples ./examples
# The agent keeps the newest epoch per workload and its recent command results here, so a
# restarted agent still refuses stale orders: mount a volume on it.
RUN mkdir -p /var/lib/drc/agent && chown -R node:node /var/lib/drc
USER node
VOLUME ["/var/lib/drc/agent"]
# Witness probes from the other sites' agents (when --witness-listen is set).
EXPOSE 7811
ENTRYPOINT ["node", "--import", "tsx", "services/site-agent/src/main.ts"]
CMD ["--config", "/etc/drc/drc.yaml"]
