#!/usr/bin/env node
// `npm run build` (run by `npm ci` too, through `prepare`): bundles the commands (src/cli/main.ts,
// the kubectl plugin src/cli/pkg/main.ts, and what they import, node_modules included but
// better-sqlite3's native addon) into dist/ with
// esbuild: ES modules, one chunk per dynamic import, so what a standalone start does not use (the
// cluster clients, @kubernetes/client-node) is not loaded. A start then reads a few files instead
// of compiling ~200 TypeScript modules and resolving ~600 package files (docs/benchmarks.md:
// restart → serving). Types are checked by `npm run typecheck`, not here. Writes dist/BUILD_STAMP
// last: bin/entry.js runs dist/ only while that stamp is newer than every file of src/.
import { build } from 'esbuild';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  // the two commands of bin/ (chunks they share are loaded once)
  entryPoints: { main: 'src/cli/main.ts', 'kubectl-pkg': 'src/cli/pkg/main.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // etcd3 (and its grpc-js) reads its .proto files next to its own sources at run time; loaded
  // only with --storage-backend=etcd3
  external: ['better-sqlite3', 'etcd3'],
  // CommonJS packages inside an ES module bundle call require() for Node's own modules
  banner: { js: "import { createRequire as __pkgserverCreateRequire } from 'node:module'; const require = __pkgserverCreateRequire(import.meta.url);" },
  sourcemap: true,
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});
// read at run time next to the module that loads it (new URL('./OpenAPIv2.proto', import.meta.url))
copyFileSync(path.join(root, 'src/apiserver/openapi/OpenAPIv2.proto'), path.join(dist, 'OpenAPIv2.proto'));
writeFileSync(path.join(dist, 'BUILD_STAMP'), `${new Date().toISOString()}\n`);
