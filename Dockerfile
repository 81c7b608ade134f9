# syntax=docker/dockerfile:1
# mtls-guard image: build with the full Node image, run on the slim image of the current Node LTS
# with production dependencies and compiled JavaScript only.

ARG NODE_VERSION=24

# ---- build: install everything, compile TypeScript, then drop dev dependencies ----
FROM node:${NODE_VERSION}-trixie AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Scripts are skipped here: `prepare` would compile before the sources are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- run: no shell tools needed, numeric non-root user, nothing written outside /tmp ----
FROM node:${NODE_VERSION}-trixie-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="mtls-guard" \
      org.opencontainers.image.description="Kubernetes admission webhook that keeps service-mesh mutual TLS from being switched off by accident" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/mtls-guard/mtls-guard"
ENV NODE_ENV=production \
    TMPDIR=/tmp
WORKDIR /app
COPY --from=build --chown=0:0 /src/package.json ./
COPY --from=build --chown=0:0 /src/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/dist ./dist
COPY --from=build --chown=0:0 /src/bin ./bin
# Any UID works (OpenShift restricted-v2 assigns one); 65532 is the default when none is set.
# Files are root-owned and read-only to it, so a readOnlyRootFilesystem pod runs unchanged with
# an emptyDir on /tmp (only used when no certificate is mounted).
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["node", "/app/dist/cli.js", "serve"]
CMD ["--port", "8443", "--metrics-port", "9090"]
