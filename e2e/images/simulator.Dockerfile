# The Discord simulator as a test fixture for the e2e cluster. Build from the repository root:
#   docker build -f e2e/images/simulator.Dockerfile -t localhost/shardfleet/simulator:e2e .
# Same shape as the product images: non-root, production dependencies only, nothing written to
# disk. Its accepted token is a test value (`--token`, default simulator-token), not a secret.
ARG BASE_IMAGE=node:22-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY . .
RUN npm ci --workspace=@shardfleet/simulator --workspace=@shardfleet/protocol --include-workspace-root \
 && npx tsc -b simulator \
 && mkdir /manifests \
 && find . -name package.json -not -path '*/node_modules/*' -exec cp --parents {} /manifests/ \; \
 && cp package-lock.json /manifests/

FROM ${BASE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Every workspace's package.json, so npm ci accepts the lockfile; only two are installed. The
# workspace's devDependencies go first, as in the product images: with --workspace, --omit=dev still
# installs workspaces named as devDependencies, and their dependencies.
COPY --from=build /manifests/ ./
RUN npm pkg delete devDependencies --workspace=@shardfleet/simulator \
 && npm ci --omit=dev --workspace=@shardfleet/simulator --workspace=@shardfleet/protocol \
 && npm cache clean --force \
 && rm -rf /root/.npm /tmp/*
COPY --from=build /src/protocol/dist ./protocol/dist
COPY --from=build /src/simulator/dist ./simulator/dist
COPY --from=build /src/simulator/bin ./simulator/bin
USER 1000:1000
EXPOSE 8787
# The flag bin/shardfleet-sim.js's shebang passes (a larger young generation for steady latency).
ENTRYPOINT ["node", "--max-semi-space-size=32", "simulator/bin/shardfleet-sim.js"]
CMD ["--host", "0.0.0.0", "--port", "8787"]
