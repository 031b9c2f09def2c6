# syntax=docker/dockerfile:1
# lambda-serving container image.
#   docker build -t lambda-serving .
#   docker run -p 3000:3000 lambda-serving     # embedded mode: no Kafka or warehouse needed
#   docker run lambda-serving lambda-serving check-config   # the bin: start, flush, check-config, produce
# Stage 1 compiles TypeScript (tsc -p tsconfig.build.json -> dist/); stage 2 holds only the
# production dependencies and dist/, and runs as the unprivileged `node` user.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
# the dashboard's static files (read from ../../public relative to dist/serving/) and the bin
COPY public ./public
COPY bin ./bin
ENV PATH=/app/bin:$PATH
USER node
EXPOSE 3000
# Liveness: GET /healthz with Node's built-in fetch (slim images have no curl or wget).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
