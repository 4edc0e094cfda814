# One image for the four Keyledger services; the command picks the service.
#   docker build -t keyledger .
#   docker run keyledger node dist/apps/vault/src/main.js
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json nest-cli.json ./
COPY apps ./apps
COPY libs ./libs
COPY test ./test
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends softhsm2 openssl ca-certificates curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production KAFKAJS_NO_PARTITIONER_WARNING=1
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY apps/identity/migrations ./apps/identity/migrations
COPY apps/vault/migrations ./apps/vault/migrations
COPY apps/crypto/migrations ./apps/crypto/migrations
COPY apps/audit/migrations ./apps/audit/migrations
COPY libs/contracts/proto ./libs/contracts/proto
COPY deploy/docker ./deploy/docker
USER node
CMD ["node", "--enable-source-maps", "dist/apps/vault/src/main.js"]
