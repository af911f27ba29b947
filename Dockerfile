# The pkgserver image (docs/install.md): docker build -t pkgserver:0.1.0 .
# Two stages on Node 20: the builder installs the dependencies, compiles better-sqlite3's native
# addon and bundles the server into dist/ (`npm ci` runs scripts/build.js), then drops the
# development dependencies; the runtime image gets node_modules and dist/ without a compiler.
# bin/pkgserver.js runs dist/ (src/ is copied too, as the build's newer-than check reads it). No
# git binary: the server speaks git through isomorphic-git. Runs as uid/gid 10001.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
RUN groupadd --gid 10001 pkgserver \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pkgserver
WORKDIR /app
# owned by root and not writable by the server; it writes only to its data directory and /tmp
COPY --from=build /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY --from=build /app/src ./src
COPY --from=build /app/dist ./dist
USER 10001:10001
EXPOSE 8443
ENTRYPOINT ["node", "bin/pkgserver.js"]
CMD ["serve"]
