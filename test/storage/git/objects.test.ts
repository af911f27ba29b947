// The object reader (src/storage/git/objects.ts) against repositories the git CLI wrote: loose
// objects, packs with OFS_DELTA and REF_DELTA chains, index v1, index v2 with 64-bit offsets; every
// object compared with `git cat-file`, and the parsed shapes with isomorphic-git's.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import git from 'isomorphic-git';
import fs from 'node:fs';
import { applyDelta, GitObjectNotFoundError, ObjectDatabase, parseCommit, parseTree, unsafeEntryName } from '../../../src/storage/git/objects.ts';

const ENV = { ...process.env, GIT_AUTHOR_NAME: 'A U Thor', GIT_AUTHOR_EMAIL: 'a@example.com', GIT_COMMITTER_NAME: 'C O Mitter', GIT_COMMITTER_EMAIL: 'c@example.com', GIT_CONFIG_NOSYSTEM: '1', HOME: os.tmpdir() };

function run(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: ENV, encoding: 'latin1', maxBuffer: 256 << 20 });
}

/** A work tree with history: text files edited a little per commit (deltas), a big file, an executable, a link, nested directories, tags. */
function makeRepo(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'objects-test-'));
  run(dir, 'init', '-q', '-b', 'main');
  let big = '';
  for (let i = 0; i < 5000; i++) big += `line ${i} of a file that is larger than 64 KiB, so copies of 0x10000 bytes happen\n`;
  for (let c = 0; c < 12; c++) {
    mkdirSync(path.join(dir, 'pkg', 'sub', 'deeper'), { recursive: true });
    writeFileSync(path.join(dir, 'pkg', 'Kptfile'), `apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n  annotations:\n    rev: "${c}"\n`);
    writeFileSync(path.join(dir, 'pkg', 'sub', 'deeper', 'big.txt'), big.replace(`line ${c * 10} `, `LINE ${c * 10} `));
    writeFileSync(path.join(dir, 'pkg', 'sub', `file-${c}.yaml`), `n: ${c}\n`);
    writeFileSync(path.join(dir, 'run.sh'), `#!/bin/sh\necho ${c}\n`);
    chmodSync(path.join(dir, 'run.sh'), 0o755);
    if (c === 0) symlinkSync('pkg/Kptfile', path.join(dir, 'link'));
    run(dir, 'add', '-A');
    run(dir, 'commit', '-q', '-m', `commit ${c}\n\nbody line\n\nPkgserver-Trailer: {"n":${c}}`);
    if (c % 4 === 0) run(dir, 'tag', `pkg/v${c}`);
  }
  run(dir, 'tag', '-a', '-m', 'annotated\n', 'annotated');
  return dir;
}

function allObjects(gitdir: string): { oid: string; type: string }[] {
  return run(gitdir, 'cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype)')
    .trim()
    .split('\n')
    .map((l) => {
      const [oid, type] = l.split(' ');
      return { oid, type };
    });
}

function checkEvery(t: import('ava').ExecutionContext, gitdir: string): number {
  const db = new ObjectDatabase(gitdir);
  let n = 0;
  try {
    for (const { oid, type } of allObjects(gitdir)) {
      const obj = db.read(oid);
      t.is(obj.type as string, type, oid);
      const want = execFileSync('git', ['cat-file', type, oid], { cwd: gitdir, env: ENV, maxBuffer: 256 << 20 });
      if (!obj.data.equals(want)) t.fail(`${type} ${oid} differs from git cat-file`);
      t.true(db.has(oid));
      n++;
    }
  } finally {
    db.close();
  }
  return n;
}

function packDir(gitdir: string): string {
  return path.join(gitdir, 'objects', 'pack');
}

test('loose objects read as git cat-file prints them', (t) => {
  const dir = makeRepo();
  const gitdir = path.join(dir, '.git');
  t.is(readdirSync(packDir(gitdir)).length, 0, 'no packs yet');
  t.true(checkEvery(t, gitdir) > 40);
});

test('a pack with OFS_DELTA chains (repack -adf, depth 50)', (t) => {
  const dir = makeRepo();
  const gitdir = path.join(dir, '.git');
  run(dir, 'repack', '-adfq', '--depth=50', '--window=50');
  const verify = run(dir, 'verify-pack', '-v', path.join(packDir(gitdir), readdirSync(packDir(gitdir)).find((f) => f.endsWith('.idx'))!));
  t.regex(verify, /chain length = [2-9]/, 'the pack has delta chains');
  t.true(checkEvery(t, gitdir) > 40);
});

test('a pack with REF_DELTA bases (no delta-base-offset)', (t) => {
  const dir = makeRepo();
  const gitdir = path.join(dir, '.git');
  run(dir, '-c', 'repack.useDeltaBaseOffset=false', 'repack', '-adfq', '--depth=50', '--window=50');
  t.true(checkEvery(t, gitdir) > 40);
});

test('index version 1, and version 2 with 64-bit offsets', (t) => {
  for (const version of ['1', '2,16']) {
    const dir = makeRepo();
    const gitdir = path.join(dir, '.git');
    run(dir, 'repack', '-adfq');
    const pack = readdirSync(packDir(gitdir)).find((f) => f.endsWith('.pack'))!;
    const idx = path.join(packDir(gitdir), pack.replace(/pack$/, 'idx'));
    rmSync(idx, { force: true });
    run(dir, 'index-pack', `--index-version=${version}`, '-o', idx, path.join(packDir(gitdir), pack));
    const head = readFileSync(idx);
    t.is(head.readUInt32BE(0) === 0xff744f63 ? '2' : '1', version[0]);
    t.true(checkEvery(t, gitdir) > 40, version);
  }
});

test('a pack added after the first read is found (the directory is listed again on a miss)', (t) => {
  const dir = makeRepo();
  const gitdir = path.join(dir, '.git');
  run(dir, 'repack', '-adq');
  const db = new ObjectDatabase(gitdir);
  const head = run(dir, 'rev-parse', 'HEAD').trim();
  t.is(db.read(head).type, 'commit');
  writeFileSync(path.join(dir, 'new.txt'), 'new\n');
  run(dir, 'add', '-A');
  run(dir, 'commit', '-q', '-m', 'new');
  run(dir, 'repack', '-adq'); // a new pack replaces the old one
  const next = run(dir, 'rev-parse', 'HEAD').trim();
  t.is(parseCommit(db.read(next).data).parent[0], head);
  t.is(db.read(head).type, 'commit', 'the old objects are found in the new pack');
  db.close();
});

test('a missing object is GitObjectNotFoundError (NotFoundError), also for a malformed id', (t) => {
  const dir = makeRepo();
  const db = new ObjectDatabase(path.join(dir, '.git'));
  const e = t.throws(() => db.read('0'.repeat(40)), { instanceOf: GitObjectNotFoundError });
  t.is(e!.code, 'NotFoundError');
  t.throws(() => db.read('../../etc'), { instanceOf: GitObjectNotFoundError });
  t.false(db.has('1'.repeat(40)));
});

test('an index being written (cut short) is skipped, not trusted, and read once complete', (t) => {
  const dir = makeRepo();
  const gitdir = path.join(dir, '.git');
  run(dir, 'repack', '-adq');
  run(dir, 'prune-packed');
  const idx = path.join(packDir(gitdir), readdirSync(packDir(gitdir)).find((f) => f.endsWith('.idx'))!);
  const full = readFileSync(idx);
  writeFileSync(idx, full.subarray(0, 1100));
  const db = new ObjectDatabase(gitdir);
  const head = run(dir, 'rev-parse', 'HEAD').trim();
  t.throws(() => db.read(head), { instanceOf: GitObjectNotFoundError });
  writeFileSync(idx + '.tmp', full);
  renameSync(idx + '.tmp', idx);
  t.is(db.read(head).type, 'commit');
  db.close();
});

test('commits and trees parse as isomorphic-git parses them', async (t) => {
  const dir = makeRepo();
  const gitdir = path.join(dir, '.git');
  run(dir, 'repack', '-adq');
  const db = new ObjectDatabase(gitdir);
  let commits = 0;
  let trees = 0;
  for (const { oid, type } of allObjects(gitdir)) {
    if (type === 'commit') {
      t.deepEqual(parseCommit(db.read(oid).data), (await git.readCommit({ fs, gitdir, oid })).commit as unknown, oid);
      commits++;
    } else if (type === 'tree') {
      t.deepEqual(parseTree(db.read(oid).data), (await git.readTree({ fs, gitdir, oid })).tree as unknown, oid);
      trees++;
    }
  }
  t.is(commits, 12);
  t.true(trees > 30);
  const tree = parseTree(db.read(run(dir, 'rev-parse', 'HEAD^{tree}').trim()).data);
  t.deepEqual(
    tree.map((e) => [e.path, e.mode, e.type]),
    [
      ['link', '120000', 'blob'],
      ['pkg', '040000', 'tree'],
      ['run.sh', '100755', 'blob'],
    ],
  );
  db.close();
});

test('unsafe tree entry names are refused as git refuses them', (t) => {
  for (const bad of ['..', '.', '.git', '.GIT', '.git.', 'git~1', '.git:stream', 'a/b', 'a\\b', '.g\u200Cit']) t.true(unsafeEntryName(bad), bad);
  for (const ok of ['.gitignore', 'git', '..a', 'a..', '.kpt']) t.false(unsafeEntryName(ok), ok);
  const entry = (name: string) => Buffer.concat([Buffer.from(`100644 ${name}\0`), Buffer.alloc(20, 1)]);
  t.throws(() => parseTree(entry('..')), { message: /unsafe/ });
  t.is(parseTree(entry('ok.yaml'))[0].oid, '01'.repeat(20));
});

test('applyDelta copies and inserts, and refuses a delta that does not fit its base', (t) => {
  const base = Buffer.from('0123456789abcdef');
  // base size 16, result size 8: copy 4 bytes at offset 10 ("abcd"), insert "XYZW"
  const delta = Buffer.from([16, 8, 0x80 | 0x01 | 0x10, 10, 4, 4, ...Buffer.from('XYZW')]);
  t.is(applyDelta(delta, base).toString(), 'abcdXYZW');
  t.throws(() => applyDelta(delta, Buffer.from('short')), { message: /base/ });
  t.throws(() => applyDelta(Buffer.from([16, 4, 0x80 | 0x01 | 0x10, 14, 4]), base), { message: /outside/ });
  t.throws(() => applyDelta(Buffer.from([16, 1, 0]), base), { message: /reserved/ });
});
