// bin/entry.js: the commands run the bundle in dist/ while its BUILD_STAMP is newer than every
// file of src/, and the TypeScript sources otherwise (or with PKGSERVER_FROM_SOURCE=1). Checked on
// a copy of bin/ and src/ whose dist/ is a stub that says where it ran from.
import test from 'ava';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, tempDir } from './helpers/server.ts';

const run = promisify(execFile);
const version = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;

function copy(): string {
  const dir = tempDir('entry-');
  cpSync(path.join(ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
  cpSync(path.join(ROOT, 'src'), path.join(dir, 'src'), { recursive: true });
  cpSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  mkdirSync(path.join(dir, 'dist'));
  writeFileSync(path.join(dir, 'dist', 'main.js'), "export async function main() { console.log('from the bundle'); }\n");
  writeFileSync(path.join(dir, 'dist', 'BUILD_STAMP'), 'test\n');
  return dir;
}

test('a current bundle runs; a source newer than the build, or PKGSERVER_FROM_SOURCE=1, runs the sources', async (t) => {
  const dir = copy();
  const stamp = path.join(dir, 'dist', 'BUILD_STAMP');
  const later = new Date(Date.now() + 60_000);
  utimesSync(stamp, later, later);
  const cmd = (env: Record<string, string> = {}) => run(process.execPath, [path.join(dir, 'bin/pkgserver.js'), 'version'], { env: { ...process.env, ...env } });
  t.is((await cmd()).stdout, 'from the bundle\n');
  t.is((await cmd({ PKGSERVER_FROM_SOURCE: '1' })).stdout, `${version}\n`);
  // an edit of any source file makes the build stale
  const edited = path.join(dir, 'src', 'version.ts');
  const evenLater = new Date(Date.now() + 120_000);
  utimesSync(edited, evenLater, evenLater);
  t.is((await cmd()).stdout, `${version}\n`);
  // a build older than the sources: the sources
  const dir2 = copy();
  writeFileSync(path.join(dir2, 'dist', 'BUILD_STAMP'), '');
  utimesSync(path.join(dir2, 'dist', 'BUILD_STAMP'), new Date(0), new Date(0));
  t.is((await run(process.execPath, [path.join(dir2, 'bin/pkgserver.js'), 'version'])).stdout, `${version}\n`);
});
