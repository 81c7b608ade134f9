# syntax=docker/dockerfile:1
# Build stage: full Node image, compiles TypeScript to dist/.
FROM node:22-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts

# Run stage: slim image, production dependencies and compiled JS only, numeric non-root user.
FROM node:22-bookworm-slim
LABEL org.opencontainers.image.title="mtls-guard" \
      org.opencontainers.image.description="Admission webhook that keeps service-mesh mutual TLS from being switched off by accident" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["node", "/app/dist/cli.js", "serve"]
