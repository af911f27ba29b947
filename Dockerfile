# The pkgserver image (docs/install.md): docker build -t pkgserver:0.1.0 .
# Two stages on Node 20: the builder installs the production dependencies and compiles
# better-sqlite3's native addon; the runtime image gets them without a compiler. The sources stay
# TypeScript and run through tsx's loader (a runtime dependency), so there is no build step. No git
# binary: the server speaks git through isomorphic-git. Runs as uid/gid 10001.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
RUN groupadd --gid 10001 pkgserver \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pkgserver
WORKDIR /app
# owned by root and not writable by the server; it writes only to its data directory and /tmp
COPY --from=build /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
USER 10001:10001
EXPOSE 8443
ENTRYPOINT ["node", "bin/pkgserver.js"]
CMD ["serve"]
