# Understudy: one image for both roles (view service and replica), docs/DEPLOYMENT.md §2.
#
#   docker build -t understudy .
#   docker run -p 7000:7000 understudy                                   # a view service
#   docker run -e UNDERSTUDY_ROLE=replica -e PORT=7101 \
#     -e UNDERSTUDY_VIEW=ws://view-host:7000 -e UNDERSTUDY_URL=ws://this-host:7101 -p 7101:7101 understudy
#
# docker-compose.yml runs a view service and three replicas. Configuration is by
# environment only (SPEC §4); UNDERSTUDY_ROLE picks the role, as in the Procfile.

ARG NODE_IMAGE=node:20-bookworm-slim

# ── build: every dependency, compile dist/, then drop the dev dependencies ──
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; esbuild works
# without its postinstall (its binary comes from @esbuild/<platform>).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ── runtime: production dependencies and dist/ only, as the unprivileged `node` user ──
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    UNDERSTUDY_ROLE=view
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# The view service's data dir (UNDERSTUDY_DATA_DIR=/data in docker-compose.yml), writable by `node`.
RUN mkdir -p /data && chown node:node /data
USER node
# 7000: the view service's default port, 7101: a replica's (PORT overrides either).
EXPOSE 7000 7101
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||(process.env.UNDERSTUDY_ROLE==='replica'?7101:7000))+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# exec: the server is PID 1's only child and gets SIGTERM from `docker stop` (graceful
# shutdown: a primary hands off at once, docs/DEPLOYMENT.md §4).
CMD ["sh", "-c", "exec node bin/understudy.js \"${UNDERSTUDY_ROLE:-view}\""]
