// Shared by the commands in bin/: loads a command's `main` from the bundle in dist/ (`npm run
// build`, done by `npm ci`: scripts/build.js) when that build is newer than every source file,
// and otherwise from the TypeScript sources through tsx's loader, so an edited source is never
// shadowed by a stale build. PKGSERVER_FROM_SOURCE=1 always loads the sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

function builtAndCurrent() {
  if (process.env.PKGSERVER_FROM_SOURCE === '1') return false;
  const stamp = path.join(root, 'dist', 'BUILD_STAMP');
  if (!existsSync(stamp)) return false;
  const built = statSync(stamp).mtimeMs;
  for (const entry of readdirSync(path.join(root, 'src'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && statSync(path.join(entry.parentPath, entry.name)).mtimeMs > built) return false;
  }
  return true;
}

/** The `main` of a command: `bundle` is its file in dist/, `source` its TypeScript entry in src/. */
export async function loadMain(bundle, source) {
  if (builtAndCurrent()) return (await import(path.join(root, 'dist', bundle))).main;
  const { register } = await import('tsx/esm/api');
  register();
  return (await import(path.join(root, 'src', source))).main;
}
