// GitRepo against a real smart-HTTP server (git http-backend) and against local bare
// repositories; every result is checked with the git CLI.
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  GitAuthError,
  GitConflictError,
  GitPartialUpdateError,
  GitRefNameError,
  GitRepo,
  GitUnreachableError,
  type GitAuth,
} from '../src/storage/git/repo.ts';
import { PackageRepo } from '../src/storage/git/packages.ts';
import { GitObjectNotFoundError } from '../src/storage/git/objects.ts';
import { git, startGitServer, type GitServer } from './helpers/gitserver.ts';

const USER = 'git';
const PASSWORD = 'pw-s3cret-7781';
const AUTH: GitAuth = { username: USER, password: PASSWORD };
const DRAFT = 'refs/heads/drafts/cluster01/infra/net/nginx/ws1';
const TAG = 'refs/tags/cluster01/infra/net/nginx/v1';

let server: GitServer;
let tmp: string;
let seq = 0;

test.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'git-repo-test-'));
  server = await startGitServer({ user: USER, password: PASSWORD });
});
test.after.always(async () => {
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const buf = (s: string) => Buffer.from(s);
const files = (o: Record<string, string>) => new Map(Object.entries(o).map(([k, v]) => [k, buf(v)]));
const uniq = (prefix: string) => `${prefix}-${++seq}`;

/** A bare repository on the server, with an initial commit on main when files are given. */
async function serverRepo(initialFiles?: Record<string, string>): Promise<{ name: string; bare: string }> {
  const name = uniq('repo');
  return { name, bare: await server.createBareRepo(name, { initialFiles }) };
}

function clone(name: string, opts: { auth?: GitAuth; srv?: GitServer; timeoutMs?: number } = {}): Promise<GitRepo> {
  return GitRepo.open({
    gitdir: path.join(tmp, uniq('clone')),
    remote: { url: (opts.srv ?? server).url(name), auth: opts.auth ?? AUTH },
    timeoutMs: opts.timeoutMs ?? 10_000,
  });
}

/** `git ls-tree -r` as path → blob oid. */
async function lsTree(bare: string, rev: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of (await git(bare, 'ls-tree', '-r', rev)).split('\n').filter(Boolean)) {
    const [meta, file] = line.split('\t');
    out.set(file, meta.split(' ')[2]);
  }
  return out;
}

/** Branches and tags as ref → commit (annotated tags peeled), from `git for-each-ref`. */
async function cliRefs(bare: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const text = await git(bare, 'for-each-ref', '--format=%(refname) %(objectname) %(*objectname)', 'refs/heads', 'refs/tags');
  for (const line of text.split('\n').filter(Boolean)) {
    const [ref, oid, peeled] = line.split(' ');
    out.set(ref, peeled || oid);
  }
  return out;
}

async function repoRefs(repo: GitRepo): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [name, oid] of await repo.listRefs('refs/heads/')) out.set(`refs/heads/${name}`, oid);
  for (const [name, oid] of await repo.listRefs('refs/tags/')) out.set(`refs/tags/${name}`, oid);
  return out;
}

const revParse = async (bare: string, rev: string) => (await git(bare, 'rev-parse', rev)).trim();
const sorted = (m: Map<string, string>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));

/** Commits `changes` (content, or null to delete) on `branch` of `bare` with the git CLI, through a work clone. */
async function cliCommit(bare: string, branch: string, changes: Record<string, string | null>): Promise<string> {
  const work = path.join(tmp, uniq('work'));
  await git(tmp, 'clone', '--quiet', '--branch', branch, bare, work);
  for (const [file, content] of Object.entries(changes)) {
    if (content === null) await git(work, 'rm', '--quiet', '-r', file);
    else {
      await mkdir(path.dirname(path.join(work, file)), { recursive: true });
      await writeFile(path.join(work, file), content);
    }
  }
  await git(work, 'add', '-A');
  await git(work, 'commit', '--quiet', '-m', 'cli change');
  await git(work, 'push', '--quiet', 'origin', branch);
  return revParse(bare, branch);
}

async function assertFsckClean(t: ExecutionContext, bare: string): Promise<void> {
  // git exits non-zero (and `git` rejects) on any error; --strict also checks tree entry order and modes.
  await t.notThrowsAsync(git(bare, 'fsck', '--full', '--strict', '--no-dangling'));
}

const PACKAGE_TREE = {
  'README.md': 'top\n',
  'catalog/base/Kptfile': 'kind: Kptfile\n',
  'catalog/base/ns.yaml': 'kind: Namespace\n',
  'catalog/infra/net/nginx/Kptfile': 'kind: Kptfile\nmetadata: {name: nginx}\n',
  'catalog/infra/net/nginx/deploy.yaml': 'kind: Deployment\n',
  'catalog/infra/net/nginx/sub/svc.yaml': 'kind: Service\n',
  'catalog/infra/net/nginx/nested/Kptfile': 'kind: Kptfile\n',
  'catalog/infra/notes.txt': 'not a package\n',
  'other/Kptfile': 'kind: Kptfile\n',
};

// ---------------------------------------------------------------------------------------------
// open / clone

test('open: clones a remote into a bare repository and reuses an existing clone', async (t) => {
  const { name, bare } = await serverRepo({ 'a/Kptfile': 'k\n' });
  const gitdir = path.join(tmp, uniq('clone'));
  const first = await GitRepo.open({ gitdir, remote: { url: server.url(name), auth: AUTH } });
  t.deepEqual(sorted(await repoRefs(first)), sorted(await cliRefs(bare)));
  t.true((await stat(path.join(gitdir, 'HEAD'))).isFile());
  await t.throwsAsync(stat(path.join(gitdir, 'index')), { code: 'ENOENT' }, 'bare: no index');

  await writeFile(path.join(gitdir, 'marker'), 'kept');
  const again = await GitRepo.open({ gitdir, remote: { url: server.url(name), auth: AUTH } });
  t.is(await readFile(path.join(gitdir, 'marker'), 'utf8'), 'kept', 'the existing clone is reused, not recreated');
  t.is(await again.resolve('refs/heads/main'), await revParse(bare, 'main'));
});

test('open: the remote is served with and without .git; credentials in the URL never reach the git config', async (t) => {
  const { name, bare } = await serverRepo({ 'f.txt': 'x\n' });
  const gitdir = path.join(tmp, uniq('clone'));
  const withCreds = server.url(name).replace('http://', `http://${USER}:${PASSWORD}@`).replace(/\.git$/, '');
  const repo = await GitRepo.open({ gitdir, remote: { url: withCreds } });
  t.is(repo.url, server.url(name).replace(/\.git$/, ''));
  t.false((await readFile(path.join(gitdir, 'config'), 'utf8')).includes(PASSWORD));
  // the credentials moved out of the URL still authenticate a push
  const main = (await repo.resolve('refs/heads/main'))!;
  const c = await repo.commitFiles({ parent: main, dir: 'd', files: files({ 'x.yaml': 'x\n' }), message: 'add d' });
  await repo.updateRef('refs/heads/main', c, main);
  t.is(await revParse(bare, 'main'), c);
});

test('open: an empty remote clones to a repository without refs, which can then be written', async (t) => {
  const { name, bare } = await serverRepo();
  const repo = await clone(name);
  t.is((await repo.listRefs('refs/heads/')).size, 0);
  t.deepEqual(await repo.fetch(), []);
  const c = await repo.commitFiles({ parent: null, dir: 'pkg', files: files({ Kptfile: 'k\n' }), message: 'first' });
  await repo.updateRef('refs/heads/main', c, null);
  t.is(await revParse(bare, 'main'), c);
  t.is((await git(bare, 'rev-list', '--count', 'main')).trim(), '1');
});

test('open: a local path must be an existing git repository', async (t) => {
  const empty = await mkdtemp(path.join(tmp, 'empty-'));
  await t.throwsAsync(GitRepo.open({ gitdir: empty }), { message: /is not a git repository/ });
  await t.throwsAsync(GitRepo.open({ gitdir: path.join(tmp, 'x'), remote: { url: 'file:///srv/x.git' } }), { message: /not supported/ });
});

// ---------------------------------------------------------------------------------------------
// fetch

test('fetch mirrors the remote: new, moved and deleted branches and tags, annotated tags peeled', async (t) => {
  const { name, bare } = await serverRepo({ 'a/Kptfile': 'k\n' });
  const c1 = await revParse(bare, 'main');
  await git(bare, 'branch', 'drafts/a/ws1', c1);
  await git(bare, 'branch', 'doomed', c1);
  await git(bare, 'tag', 'a/v1', c1);
  await git(bare, 'tag', 'gone/v1', c1);
  await git(bare, 'tag', '-a', '-m', 'annotated', 'a/v2', c1);
  const repo = await clone(name);
  t.deepEqual(sorted(await repoRefs(repo)), sorted(await cliRefs(bare)));
  t.is((await repo.listRefs('refs/tags/')).get('a/v2'), c1, 'annotated tag peeled to its commit');
  t.is(await repo.resolve('refs/tags/a/v2'), c1);

  // Change everything on the remote: move main, delete a branch and a tag, and turn tag
  // `a/v1` into a directory (`a/v1/x`), which locally needs the old ref gone first.
  const c2 = await cliCommit(bare, 'main', { 'a/more.yaml': 'm\n' });
  await git(bare, 'branch', '-D', 'doomed');
  await git(bare, 'tag', '-d', 'gone/v1');
  await git(bare, 'tag', '-d', 'a/v1');
  await git(bare, 'tag', 'a/v1/x', c2);
  await git(bare, 'branch', 'drafts/b/ws1', c2);
  await git(bare, 'pack-refs', '--all');

  const changes = await repo.fetch();
  t.deepEqual(changes, [
    { ref: 'refs/heads/doomed', before: c1, after: null },
    { ref: 'refs/heads/drafts/b/ws1', before: null, after: c2 },
    { ref: 'refs/heads/main', before: c1, after: c2 },
    { ref: 'refs/tags/a/v1', before: c1, after: null },
    { ref: 'refs/tags/a/v1/x', before: null, after: c2 },
    { ref: 'refs/tags/gone/v1', before: c1, after: null },
  ]);
  t.deepEqual(sorted(await repoRefs(repo)), sorted(await cliRefs(bare)));
  t.deepEqual(await repo.fetch(), [], 'nothing changed since');

  // and back: the directory `a/v1/` must not be left behind to block the tag `a/v1`
  await git(bare, 'tag', '-d', 'a/v1/x');
  await git(bare, 'tag', 'a/v1', c1);
  t.deepEqual(await repo.fetch(), [
    { ref: 'refs/tags/a/v1', before: null, after: c1 },
    { ref: 'refs/tags/a/v1/x', before: c2, after: null },
  ]);
  t.deepEqual(sorted(await repoRefs(repo)), sorted(await cliRefs(bare)));
  // an annotated tag on the remote is deleted by the commit it peels to
  await repo.updateRef('refs/tags/a/v2', null, c1);
  t.false((await cliRefs(bare)).has('refs/tags/a/v2'));
  t.false((await repoRefs(repo)).has('refs/tags/a/v2'));
  // the clone is a valid repository for git itself
  await assertFsckClean(t, repo.gitdir);
});

test('fetch of a remote that lost every ref empties the mirror', async (t) => {
  const { name, bare } = await serverRepo({ 'f.txt': 'x\n' });
  await git(bare, 'tag', 'v1', 'main');
  const repo = await clone(name);
  t.is((await repoRefs(repo)).size, 2);
  await git(bare, 'update-ref', '-d', 'refs/heads/main');
  await git(bare, 'update-ref', '-d', 'refs/tags/v1');
  t.is((await repo.fetch()).length, 2);
  t.is((await repoRefs(repo)).size, 0);
});

test('fetch on a local repository has nothing to do', async (t) => {
  const { bare } = await serverRepo({ 'f.txt': 'x\n' });
  const repo = await GitRepo.open({ gitdir: bare });
  t.deepEqual(await repo.fetch(), []);
  t.is(await repo.resolve('refs/heads/main'), await revParse(bare, 'main'));
});

// ---------------------------------------------------------------------------------------------
// reads

for (const mode of ['local', 'clone'] as const) {
  test(`reads (${mode}): readFiles, findPackages and listTree on a tree built with the git CLI`, async (t) => {
    const { name, bare } = await serverRepo(PACKAGE_TREE);
    const repo = mode === 'local' ? await GitRepo.open({ gitdir: bare }) : await clone(name);
    const main = (await repo.resolve('refs/heads/main'))!;
    t.is(main, await revParse(bare, 'main'));

    const nginx = await repo.readFiles(main, 'catalog/infra/net/nginx');
    t.deepEqual([...nginx.keys()], ['Kptfile', 'deploy.yaml', 'nested/Kptfile', 'sub/svc.yaml']);
    t.is(nginx.get('sub/svc.yaml')!.toString(), PACKAGE_TREE['catalog/infra/net/nginx/sub/svc.yaml']);
    t.is((await repo.readFiles(main, '/catalog/base/')).get('ns.yaml')!.toString(), 'kind: Namespace\n');
    t.is((await repo.readFiles(main, '')).size, Object.keys(PACKAGE_TREE).length);
    t.is((await repo.readFiles(main, 'missing')).size, 0);

    t.deepEqual(await repo.findPackages(main, 'catalog'), [
      { path: 'catalog/base', tree: await revParse(bare, 'main:catalog/base') },
      { path: 'catalog/infra/net/nginx', tree: await revParse(bare, 'main:catalog/infra/net/nginx') },
    ]);
    t.deepEqual(
      (await repo.findPackages(main, '')).map((p) => p.path),
      ['catalog/base', 'catalog/infra/net/nginx', 'other'],
    );
    t.deepEqual(await repo.findPackages(main, 'catalog/infra/net/nginx'), [
      { path: 'catalog/infra/net/nginx', tree: await revParse(bare, 'main:catalog/infra/net/nginx') },
    ]);
    t.deepEqual(await repo.findPackages(main, 'nowhere'), []);

    const entries = await repo.listTree(main, 'catalog/infra');
    t.deepEqual(
      entries.map((e) => [e.path, e.type]),
      [
        ['net', 'tree'],
        ['notes.txt', 'blob'],
      ],
    );
    const treeOid = await revParse(bare, 'main:catalog');
    t.deepEqual((await repo.listTree(treeOid, 'infra')).map((e) => e.oid), entries.map((e) => e.oid), 'a tree oid works as well');
    t.deepEqual(await repo.listTree(main, 'missing'), []);

    const info = await repo.readCommit(main);
    t.is(info.message, 'Initial commit\n');
    t.deepEqual(info.parents, []);
    t.is(info.tree, await revParse(bare, 'main^{tree}'));
    t.is(info.author.email, 'author@example.com');
  });
}

// ---------------------------------------------------------------------------------------------
// commitFiles

test('commitFiles replaces exactly one directory; the pushed result is what git clone sees', async (t) => {
  const { name, bare } = await serverRepo(PACKAGE_TREE);
  const repo = await clone(name);
  const main = (await repo.resolve('refs/heads/main'))!;
  const before = await lsTree(bare, 'main');

  const commit = await repo.commitFiles({
    parent: main,
    dir: 'catalog/infra/net/nginx',
    files: files({ Kptfile: 'kind: Kptfile\n# v2\n', 'cm.yaml': 'kind: ConfigMap\n', 'deep/er/x.yaml': 'x\n' }),
    baseTree: 'parent',
    message: 'Publish nginx v2\n\npkgserver: {"a":1}',
    author: { name: 'Jane', email: 'jane@example.com' },
  });
  await repo.updateRef('refs/heads/main', commit, main);

  const after = await lsTree(bare, 'main');
  const outside = (m: Map<string, string>) => sorted(new Map([...m].filter(([p]) => !p.startsWith('catalog/infra/net/nginx/'))));
  t.deepEqual(outside(after), outside(before), 'nothing outside the directory changed');
  t.deepEqual(
    [...after.keys()].filter((p) => p.startsWith('catalog/infra/net/nginx/')).sort(),
    ['catalog/infra/net/nginx/Kptfile', 'catalog/infra/net/nginx/cm.yaml', 'catalog/infra/net/nginx/deep/er/x.yaml'],
  );
  t.is(await git(bare, 'show', 'main:catalog/infra/net/nginx/Kptfile'), 'kind: Kptfile\n# v2\n');
  t.is((await git(bare, 'log', '-1', '--format=%an <%ae>|%cn|%P|%B', 'main')).trim(), `Jane <jane@example.com>|pkgserver|${main}|Publish nginx v2\n\npkgserver: {"a":1}`);

  const work = path.join(tmp, uniq('fresh'));
  await git(tmp, 'clone', '--quiet', server.url(name), work);
  t.is(await readFile(path.join(work, 'catalog/infra/net/nginx/deep/er/x.yaml'), 'utf8'), 'x\n');
  await t.throwsAsync(stat(path.join(work, 'catalog/infra/net/nginx/nested')), { code: 'ENOENT' });
  t.is(await readFile(path.join(work, 'catalog/base/ns.yaml'), 'utf8'), 'kind: Namespace\n');
  await assertFsckClean(t, bare);
});

test('commitFiles: new nested directory, root directory, removal (empty parents vanish), root commit', async (t) => {
  const { bare } = await serverRepo(PACKAGE_TREE);
  const repo = await GitRepo.open({ gitdir: bare, author: { name: 'Server', email: 'server@example.com' } });
  const main = (await repo.resolve('refs/heads/main'))!;
  const before = await lsTree(bare, 'main');

  // a directory below paths that do not exist yet
  const nested = await repo.commitFiles({ parent: main, dir: 'deploy/cluster01/infra/net/nginx', files: files({ Kptfile: 'k\n' }), message: 'nested' });
  const afterNested = await lsTree(bare, nested);
  t.deepEqual(sorted(new Map([...afterNested].filter(([p]) => !p.startsWith('deploy/')))), sorted(before));
  t.deepEqual([...afterNested.keys()].filter((p) => p.startsWith('deploy/')), ['deploy/cluster01/infra/net/nginx/Kptfile']);
  t.is((await git(bare, 'log', '-1', '--format=%an|%cn', nested)).trim(), 'Server|Server', 'the repository identity by default');

  // removing the only package below deploy/ removes deploy/ altogether
  const removed = await repo.commitFiles({ parent: nested, dir: 'deploy/cluster01/infra/net/nginx', files: null, message: 'remove' });
  t.is(await revParse(bare, `${removed}^{tree}`), await revParse(bare, 'main^{tree}'));
  // an empty map removes too: git has no empty directories
  const removedToo = await repo.commitFiles({ parent: main, dir: 'catalog/base', files: new Map(), message: 'remove base' });
  t.deepEqual(sorted(await lsTree(bare, removedToo)), sorted(new Map([...before].filter(([p]) => !p.startsWith('catalog/base/')))));
  // removing a package keeps its siblings and parents
  const sibling = await repo.commitFiles({ parent: main, dir: 'catalog/infra/net/nginx/sub', files: null, message: 'rm sub' });
  t.deepEqual(sorted(await lsTree(bare, sibling)), sorted(new Map([...before].filter(([p]) => !p.startsWith('catalog/infra/net/nginx/sub/')))));
  // removing something that is not there changes nothing
  const noop = await repo.commitFiles({ parent: main, dir: 'not/there', files: null, message: 'noop' });
  t.is(await revParse(bare, `${noop}^{tree}`), await revParse(bare, 'main^{tree}'));

  // the repository root: the tree becomes exactly the files
  const root = await repo.commitFiles({ parent: main, dir: '', files: files({ 'only.txt': 'o\n', 'd/e.txt': 'e\n' }), message: 'root' });
  t.deepEqual([...(await lsTree(bare, root)).keys()], ['d/e.txt', 'only.txt']);
  const emptied = await repo.commitFiles({ parent: main, dir: '/', files: null, message: 'empty' });
  t.is(await revParse(bare, `${emptied}^{tree}`), '4b825dc642cb6eb9a060e54bf8d69288fbee4904', 'the empty tree');

  // a root commit
  const first = await repo.commitFiles({ parent: null, dir: 'a/b', files: files({ 'f.txt': 'f\n' }), message: 'first' });
  t.is((await git(bare, 'rev-list', '--parents', first)).trim(), first);
  t.deepEqual([...(await lsTree(bare, first)).keys()], ['a/b/f.txt']);

  // paths git would refuse
  for (const dir of ['../x', 'a/./b', 'a/.git']) {
    await t.throwsAsync(repo.commitFiles({ parent: main, dir, files: files({ f: 'x' }), message: 'bad' }), { message: /invalid directory/ });
  }
  await t.throwsAsync(repo.commitFiles({ parent: main, dir: 'x', files: files({ '.git/config': 'x' }), message: 'bad' }), { message: /invalid file path/ });
  await t.throwsAsync(repo.commitFiles({ parent: main, dir: 'x', files: files({ a: '1', 'a/b': '2' }), message: 'bad' }), { message: /both a file and a directory/ });
  await t.throwsAsync(repo.commitFiles({ parent: main, dir: 'README.md/x', files: files({ a: '1' }), message: 'bad' }), { message: /is a file/ });

  // none of this moved main
  t.is(await revParse(bare, 'main'), main);
  for (const c of [nested, removed, sibling, root, emptied, first]) await git(bare, 'update-ref', `refs/heads/check-${c.slice(0, 8)}`, c);
  await assertFsckClean(t, bare);
});

// ---------------------------------------------------------------------------------------------
// updateRef

for (const mode of ['local', 'remote'] as const) {
  test(`updateRef (${mode}): create, move and delete branches and tags with slashes`, async (t) => {
    const { name, bare } = await serverRepo({ 'x/Kptfile': 'k\n' });
    const repo = mode === 'local' ? await GitRepo.open({ gitdir: bare }) : await clone(name);
    const main = (await repo.resolve('refs/heads/main'))!;
    const c1 = await repo.commitFiles({ parent: main, dir: 'cluster01/infra/net/nginx', files: files({ Kptfile: '1\n' }), message: 'draft 1' });
    const c2 = await repo.commitFiles({ parent: c1, dir: 'cluster01/infra/net/nginx', files: files({ Kptfile: '2\n' }), message: 'draft 2' });

    await repo.updateRef(DRAFT, c1, null);
    t.is(await revParse(bare, DRAFT), c1);
    await repo.updateRef(DRAFT, c2, c1);
    t.is(await revParse(bare, DRAFT), c2);
    await repo.updateRef(TAG, c2, null);
    t.is(await revParse(bare, TAG), c2);
    t.is((await git(bare, 'cat-file', '-t', TAG)).trim(), 'commit', 'a lightweight tag');
    await repo.updateRef('refs/heads/main', c2, main);
    t.deepEqual(sorted(await repoRefs(repo)), sorted(await cliRefs(bare)));

    await repo.updateRef(DRAFT, null, c2);
    await repo.updateRef(TAG, null, c2);
    t.deepEqual(sorted(await cliRefs(bare)), [['refs/heads/main', c2]]);
    t.deepEqual(sorted(await repoRefs(repo)), [['refs/heads/main', c2]]);
    t.is(await repo.resolve(DRAFT), null);

    // a deleted ref's name is free again, also as a directory, and a deleted directory as a name
    await repo.updateRef(`${TAG}/x`, c1, null);
    t.is(await revParse(bare, `${TAG}/x`), c1);
    const draftDir = path.posix.dirname(DRAFT);
    await repo.updateRef(draftDir, c1, null);
    t.is(await revParse(bare, draftDir), c1);
    t.deepEqual(sorted(await repoRefs(repo)), sorted(await cliRefs(bare)));
    await assertFsckClean(t, bare);
  });

  test(`updateRef (${mode}): compare-and-swap and fast-forward rules`, async (t) => {
    const { name, bare } = await serverRepo({ 'x/Kptfile': 'k\n' });
    const repo = mode === 'local' ? await GitRepo.open({ gitdir: bare }) : await clone(name);
    const main = (await repo.resolve('refs/heads/main'))!;
    const c1 = await repo.commitFiles({ parent: main, dir: 'p', files: files({ f: '1' }), message: '1' });
    const side = await repo.commitFiles({ parent: main, dir: 'q', files: files({ f: '1' }), message: 'side' });

    const work = 'refs/heads/work';
    await repo.updateRef(work, main, null);

    await t.throwsAsync(repo.updateRef(work, c1, c1), { instanceOf: GitConflictError });
    await t.throwsAsync(repo.updateRef(work, c1, null), { instanceOf: GitConflictError }, 'must not exist, but does');
    await t.throwsAsync(repo.updateRef('refs/heads/nothing', null, main), { instanceOf: GitConflictError });
    await repo.updateRef(work, c1, main);
    await t.throwsAsync(repo.updateRef(work, side, c1), { instanceOf: GitConflictError, message: /not a fast-forward/ });
    await t.throwsAsync(repo.updateRef(work, 'f'.repeat(40), c1), { message: /is not a commit/ });
    t.is(await revParse(bare, work), c1);
    // rewriting a ref is a delete and a create
    await repo.updateRef(work, null, c1);
    await repo.updateRef(work, side, null);
    t.is(await revParse(bare, work), side);
    t.is(await revParse(bare, 'main'), main);
  });
}

test('updateRef: a push is refused when the remote moved; fetch, rebuild and retry succeeds', async (t) => {
  const { name, bare } = await serverRepo(PACKAGE_TREE);
  const a = await clone(name);
  const b = await clone(name);
  const base = (await b.resolve('refs/heads/main'))!;

  // another GitRepo publishes first
  const fromA = await a.commitFiles({ parent: base, dir: 'catalog/base', files: files({ Kptfile: 'a\n' }), message: 'from a' });
  await a.updateRef('refs/heads/main', fromA, base);

  const stale = await b.commitFiles({ parent: base, dir: 'catalog/infra/net/nginx', files: files({ Kptfile: 'b\n' }), message: 'from b' });
  const err = await t.throwsAsync(b.updateRef('refs/heads/main', stale, base), { instanceOf: GitConflictError });
  t.regex(err!.message, new RegExp(fromA));
  t.is(await b.resolve('refs/heads/main'), base, 'the local ref did not move');
  t.is(await revParse(bare, 'main'), fromA);

  // then the git CLI pushes, too
  await b.fetch();
  const head = (await b.resolve('refs/heads/main'))!;
  t.is(head, fromA);
  const fromCli = await cliCommit(bare, 'main', { 'cli.txt': 'cli\n' });
  const rebuilt = await b.commitFiles({ parent: head, dir: 'catalog/infra/net/nginx', files: files({ Kptfile: 'b\n' }), message: 'from b' });
  await t.throwsAsync(b.updateRef('refs/heads/main', rebuilt, head), { instanceOf: GitConflictError });

  // fetch + rebuild + retry, as the server does
  t.deepEqual(await b.fetch(), [{ ref: 'refs/heads/main', before: fromA, after: fromCli }]);
  const retried = await b.commitFiles({ parent: fromCli, dir: 'catalog/infra/net/nginx', files: files({ Kptfile: 'b\n' }), message: 'from b' });
  await b.updateRef('refs/heads/main', retried, fromCli);
  t.is(await revParse(bare, 'main'), retried);
  t.is(await git(bare, 'show', 'main:catalog/base/Kptfile'), 'a\n');
  t.is(await git(bare, 'show', 'main:catalog/infra/net/nginx/Kptfile'), 'b\n');
  t.is(await git(bare, 'show', 'main:cli.txt'), 'cli\n');

  // a tag the remote already has (but this clone has not seen) is not overwritten
  await a.updateRef(TAG, fromA, null);
  await t.throwsAsync(b.updateRef(TAG, retried, null), { instanceOf: GitConflictError });
  t.is(await revParse(bare, TAG), fromA);
  await assertFsckClean(t, bare);
});

test('20 concurrent commitFiles + updateRef through withLock all land', async (t) => {
  const { name, bare } = await serverRepo({ 'README.md': 'x\n' });
  const repo = await clone(name);
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      repo.withLock(async () => {
        const head = await repo.resolve('refs/heads/main');
        const c = await repo.commitFiles({ parent: head, dir: `pkgs/p${i}`, files: files({ Kptfile: `${i}\n` }), message: `p${i}` });
        await repo.updateRef('refs/heads/main', c, head);
      }),
    ),
  );
  t.is((await git(bare, 'rev-list', '--count', 'main')).trim(), '21');
  const paths = [...(await lsTree(bare, 'main')).keys()];
  t.is(paths.filter((p) => p.startsWith('pkgs/')).length, 20);
  t.is(await repo.resolve('refs/heads/main'), await revParse(bare, 'main'));
  await assertFsckClean(t, bare);
});

test('withLock serializes sections and is re-entrant', async (t) => {
  const { bare } = await serverRepo();
  const repo = await GitRepo.open({ gitdir: bare });
  const events: string[] = [];
  const section = (id: string) =>
    repo.withLock(async () => {
      events.push(`${id}<`);
      await new Promise((r) => setTimeout(r, 5));
      t.is(await repo.withLock(async () => id), id); // nested: no deadlock
      events.push(`>${id}`);
    });
  await Promise.all([section('a'), section('b'), section('c')]);
  t.deepEqual(events, ['a<', '>a', 'b<', '>b', 'c<', '>c']);
  await t.throwsAsync(repo.withLock(async () => Promise.reject(new Error('boom'))), { message: 'boom' });
  t.is(await repo.withLock(async () => 'after a failure'), 'after a failure');
});

// ---------------------------------------------------------------------------------------------
// ref names

test('ref names: invalid names and prefix clashes (loose and packed) are refused', async (t) => {
  const { bare } = await serverRepo({ 'f.txt': 'x\n' });
  const repo = await GitRepo.open({ gitdir: bare });
  const main = (await repo.resolve('refs/heads/main'))!;
  for (const bad of ['main', 'refs/heads/a..b', 'refs/heads/x.lock', 'refs/heads/a b', 'refs/heads/a/', 'refs/heads/.hidden', 'refs/heads/a@{1}', 'refs/heads/a:b', 'refs/notes/x', 'refs/tags/a//b']) {
    await t.throwsAsync(repo.updateRef(bad, main, null), { instanceOf: GitRefNameError }, bad);
  }

  await repo.updateRef('refs/tags/a/v1', main, null);
  await t.throwsAsync(repo.updateRef('refs/tags/a/v1/x', main, null), { instanceOf: GitRefNameError, message: /refs\/tags\/a\/v1\b/ });
  await repo.updateRef('refs/tags/c/v1/x', main, null);
  await t.throwsAsync(repo.updateRef('refs/tags/c/v1', main, null), { instanceOf: GitRefNameError });

  // the same with packed refs, which isomorphic-git itself does not check
  await git(bare, 'tag', 'b/v1', main);
  await git(bare, 'branch', 'drafts/p/ws', main);
  await git(bare, 'pack-refs', '--all');
  await t.throwsAsync(stat(path.join(bare, 'refs/tags/b/v1')), { code: 'ENOENT' }, 'b/v1 is packed');
  await t.throwsAsync(repo.updateRef('refs/tags/b/v1/x', main, null), { instanceOf: GitRefNameError });
  await t.throwsAsync(repo.updateRef('refs/heads/drafts/p', main, null), { instanceOf: GitRefNameError });
  // a tag and a branch never clash
  await repo.updateRef('refs/heads/b/v1/x', main, null);
  t.is(await revParse(bare, 'refs/heads/b/v1/x'), main);

  // an annotated, packed tag is deleted by the commit it peels to (what listRefs shows)
  await git(bare, 'tag', '-a', '-m', 'annotated', 'ann/v1', main);
  await git(bare, 'pack-refs', '--all');
  t.is((await repo.listRefs('refs/tags/')).get('ann/v1'), main);
  await repo.updateRef('refs/tags/ann/v1', null, main);
  t.false((await cliRefs(bare)).has('refs/tags/ann/v1'));
  t.is((await cliRefs(bare)).get('refs/tags/b/v1'), main, 'the other packed refs stay');

  // deleting a packed ref frees the name
  await repo.updateRef('refs/tags/b/v1', null, main);
  await repo.updateRef('refs/tags/b/v1/x', main, null);
  t.is(await revParse(bare, 'refs/tags/b/v1/x'), main);
  await assertFsckClean(t, bare);
});

test('ref names: a clash on a remote clone is refused before anything is pushed', async (t) => {
  const { name, bare } = await serverRepo({ 'f.txt': 'x\n' });
  await git(bare, 'tag', 'a/v1', 'main');
  const repo = await clone(name);
  const main = (await repo.resolve('refs/heads/main'))!;
  await t.throwsAsync(repo.updateRef('refs/tags/a/v1/x', main, null), { instanceOf: GitRefNameError });
  t.deepEqual([...(await cliRefs(bare)).keys()].sort(), ['refs/heads/main', 'refs/tags/a/v1']);
});

// ---------------------------------------------------------------------------------------------
// auth and unreachable remotes

test('auth: a wrong or missing password is a GitAuthError that does not show the password', async (t) => {
  const locked = await startGitServer({ user: USER, password: PASSWORD, requireAuthForRead: true });
  t.teardown(() => locked.stop());
  const name = uniq('locked');
  await locked.createBareRepo(name, { initialFiles: { 'f.txt': 'x\n' } });
  const wrong = 'hunter2-wrong-pw';
  const gitdir = path.join(tmp, uniq('clone'));

  const err = await t.throwsAsync(GitRepo.open({ gitdir, remote: { url: locked.url(name), auth: { username: USER, password: wrong } } }), { instanceOf: GitAuthError });
  t.regex(err!.message, /401/);
  t.false(err!.message.includes(wrong));
  t.false(err!.message.includes(Buffer.from(`${USER}:${wrong}`).toString('base64')));
  t.false(JSON.stringify(err).includes(wrong));
  await t.throwsAsync(stat(gitdir), { code: 'ENOENT' }, 'a failed clone leaves nothing behind');
  await t.throwsAsync(GitRepo.open({ gitdir, remote: { url: locked.url(name) } }), { instanceOf: GitAuthError });

  // the right password, and the password as a bearer token, work
  const repo = await GitRepo.open({ gitdir, remote: { url: locked.url(name), auth: AUTH } });
  t.truthy(await repo.resolve('refs/heads/main'));
  const byToken = await GitRepo.open({ gitdir: path.join(tmp, uniq('clone')), remote: { url: locked.url(name), auth: { token: PASSWORD } } });
  t.is(await byToken.resolve('refs/heads/main'), await repo.resolve('refs/heads/main'));

  // credentials changed on the server: fetch fails as auth, not as unreachable
  locked.setCredentials(USER, 'rotated');
  await t.throwsAsync(repo.fetch(), { instanceOf: GitAuthError });
});

test('auth: a push with a wrong password is a GitAuthError and the local ref stays', async (t) => {
  const { name, bare } = await serverRepo({ 'f.txt': 'x\n' });
  const wrong = 'not-the-pw-123';
  const repo = await clone(name, { auth: { username: USER, password: wrong } }); // reads need no auth here
  const main = (await repo.resolve('refs/heads/main'))!;
  const c = await repo.commitFiles({ parent: main, dir: 'd', files: files({ f: '1' }), message: 'x' });
  const err = await t.throwsAsync(repo.updateRef('refs/heads/main', c, main), { instanceOf: GitAuthError });
  t.false(err!.message.includes(wrong));
  t.is(await repo.resolve('refs/heads/main'), main);
  t.is(await revParse(bare, 'main'), main);
});

test('unreachable: a server that is down fails fast with GitUnreachableError, and recovers', async (t) => {
  const flaky = await startGitServer({ user: USER, password: PASSWORD });
  t.teardown(() => flaky.stop());
  const name = uniq('flaky');
  const bare = await flaky.createBareRepo(name, { initialFiles: { 'f.txt': 'x\n' } });
  const repo = await clone(name, { srv: flaky, timeoutMs: 5000 });
  const main = (await repo.resolve('refs/heads/main'))!;
  const c = await repo.commitFiles({ parent: main, dir: 'd', files: files({ f: '1' }), message: 'x' });

  flaky.setDown(true);
  let start = Date.now();
  const err = await t.throwsAsync(repo.fetch(), { instanceOf: GitUnreachableError });
  t.true(Date.now() - start < 5000, `failed after ${Date.now() - start} ms`);
  t.false(err!.message.includes(PASSWORD));
  start = Date.now();
  await t.throwsAsync(repo.updateRef('refs/heads/main', c, main), { instanceOf: GitUnreachableError });
  t.true(Date.now() - start < 5000);
  t.is(await repo.resolve('refs/heads/main'), main, 'the local ref did not move');
  // a clone of a down server fails, too, and leaves nothing behind
  const gitdir = path.join(tmp, uniq('clone'));
  await t.throwsAsync(GitRepo.open({ gitdir, remote: { url: flaky.url(name) }, timeoutMs: 5000 }), { instanceOf: GitUnreachableError });
  await t.throwsAsync(stat(gitdir), { code: 'ENOENT' });

  flaky.setDown(false);
  await repo.updateRef('refs/heads/main', c, main);
  t.is(await revParse(bare, 'main'), c);
  t.deepEqual(await repo.fetch(), []);
});

test('unreachable: a remote that accepts connections but never answers times out after timeoutMs', async (t) => {
  const sockets = new Set<net.Socket>();
  const blackHole = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    blackHole.close();
  });
  const url = `http://127.0.0.1:${(blackHole.address() as AddressInfo).port}/x.git`;
  const start = Date.now();
  const err = await t.throwsAsync(GitRepo.open({ gitdir: path.join(tmp, uniq('clone')), remote: { url, auth: AUTH }, timeoutMs: 800 }), { instanceOf: GitUnreachableError });
  const elapsed = Date.now() - start;
  // not before the deadline; well before "never" (a busy machine delays the timer by seconds)
  t.true(elapsed >= 750 && elapsed < 20_000, `failed after ${elapsed} ms`);
  t.regex(err!.message, /no answer within 800 ms/);
  t.false(err!.message.includes(PASSWORD));
});

test('unreachable: a closed port is a GitUnreachableError', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  await t.throwsAsync(GitRepo.open({ gitdir: path.join(tmp, uniq('clone')), remote: { url: `http://127.0.0.1:${port}/x.git` } }), {
    instanceOf: GitUnreachableError,
    message: /ECONNREFUSED/,
  });
});

// ---------------------------------------------------------------------------------------------
// timings (logged for the report; serial so that other tests do not skew them)

test.serial('timings: clone, fetch, commit + push on the local server', async (t) => {
  const tree: Record<string, string> = {};
  for (let i = 0; i < 200; i++) for (const f of ['Kptfile', 'deploy.yaml', 'svc.yaml']) tree[`pkgs/p${i}/${f}`] = `${f} ${i}\n`;
  const { name, bare } = await serverRepo(tree);
  for (let i = 0; i < 200; i++) await git(bare, 'update-ref', `refs/tags/pkgs/p${i}/v1`, 'main');
  const ms = (start: number) => (performance.now() - start).toFixed(0);
  let start = performance.now();
  const repo = await clone(name);
  const cloneMs = ms(start);
  start = performance.now();
  t.deepEqual(await repo.fetch(), []);
  const noopFetchMs = ms(start);
  start = performance.now();
  t.is((await repo.listRefs('refs/tags/')).size, 200);
  const listTagsMs = ms(start);
  start = performance.now();
  t.is((await repo.findPackages((await repo.resolve('refs/heads/main'))!, 'pkgs')).length, 200);
  const findMs = ms(start);

  const steps: string[] = [];
  for (let i = 0; i < 5; i++) {
    const head = (await repo.resolve('refs/heads/main'))!;
    start = performance.now();
    const c = await repo.commitFiles({ parent: head, dir: `pkgs/p${i}`, files: files({ Kptfile: `v2 ${i}\n`, 'deploy.yaml': `d ${i}\n` }), message: `p${i} v2` });
    const commitMs = ms(start);
    start = performance.now();
    await repo.updateRef('refs/heads/main', c, head);
    const pushMainMs = ms(start);
    start = performance.now();
    await repo.updateRef(`refs/tags/pkgs/p${i}/v2`, c, null);
    steps.push(`${commitMs}+${pushMainMs}+${ms(start)}`);
  }
  await cliCommit(bare, 'main', { 'pkgs/p9/Kptfile': 'changed\n' });
  start = performance.now();
  t.is((await repo.fetch()).length, 1);
  const fetchMs = ms(start);
  t.is((await git(bare, 'rev-list', '--count', 'main')).trim(), '7');
  t.log(`600 files, 200 packages, 200 tags: clone ${cloneMs} ms, no-op fetch ${noopFetchMs} ms, fetch of 1 commit ${fetchMs} ms, listRefs(tags) ${listTagsMs} ms, findPackages ${findMs} ms`);
  t.log(`commit + push main + push tag (ms): ${steps.join(', ')}`);
});

// ---------------------------------------------------------------------------------------------
// updateRefs: several refs in one request, all or none
// (serial: they run before the concurrent tests, so the timing tests above do not share the machine with them)

/** Requests the server answers for repository `name` from now on, as `METHOD /path?query` without the repository part. */
function recordRequests(name: string): string[] {
  const log: string[] = [];
  const previous = server.onRequest;
  server.onRequest = (req) => {
    previous?.(req);
    const prefix = `/${name}.git/`;
    if (req.path.startsWith(prefix)) log.push(`${req.method} ${req.path.slice(prefix.length)}${req.query ? `?${req.query}` : ''}`);
  };
  return log;
}

const RECEIVE_PACK = ['GET info/refs?service=git-receive-pack', 'POST git-receive-pack'];
/** Once a remote's advertisement offered `atomic`, a write goes without asking for it again. */
const PUSH_ONLY = ['POST git-receive-pack'];

/** A `hooks/<hook>` script in a bare repository that refuses updates of refs matching the shell pattern. */
async function refuseRefs(bare: string, hook: 'update' | 'pre-receive', pattern: string): Promise<void> {
  const script =
    hook === 'update'
      ? `#!/bin/sh\ncase "$1" in ${pattern}) echo "refused by the test" >&2; exit 1;; esac\nexit 0\n`
      : `#!/bin/sh\nwhile read old new ref; do case "$ref" in ${pattern}) echo "refused by the test" >&2; exit 1;; esac; done\nexit 0\n`;
  await writeFile(path.join(bare, 'hooks', hook), script, { mode: 0o755 });
}

/** The state publish leaves: a draft branch on main, a commit of it on main; returns the commits. */
async function publishSetup(repo: GitRepo): Promise<{ main: string; draft: string; publish: string }> {
  const main = (await repo.resolve('refs/heads/main'))!;
  const draft = await repo.commitFiles({ parent: main, dir: 'catalog/infra/net/nginx', files: files({ Kptfile: 'draft\n' }), message: 'draft' });
  await repo.updateRef(DRAFT, draft, null);
  const publish = await repo.commitFiles({ parent: main, dir: 'catalog/infra/net/nginx', files: files({ Kptfile: 'draft\n' }), message: 'publish' });
  return { main, draft, publish };
}

const publishUpdates = (s: { main: string; draft: string; publish: string }) => [
  { ref: 'refs/heads/main', newOid: s.publish, expectedOld: s.main },
  { ref: TAG, newOid: s.publish, expectedOld: null },
  { ref: DRAFT, newOid: null, expectedOld: s.draft },
];

test.serial('updateRefs (remote): a branch move, a tag and a branch delete in one receive-pack request', async (t) => {
  const { name, bare } = await serverRepo(PACKAGE_TREE);
  const repo = await clone(name);
  const s = await publishSetup(repo);
  const log = recordRequests(name);
  await repo.updateRefs(publishUpdates(s));
  t.deepEqual(log, PUSH_ONLY, 'one push (the advertisement was read by the first write)');
  t.deepEqual(sorted(await cliRefs(bare)), [['refs/heads/main', s.publish], [TAG, s.publish]]);
  t.deepEqual(sorted(await repoRefs(repo)), sorted(await cliRefs(bare)));
  t.is(await git(bare, 'show', 'main:catalog/infra/net/nginx/Kptfile'), 'draft\n');
  await assertFsckClean(t, bare);

  // deletes only: no pack
  log.length = 0;
  await repo.updateRefs([{ ref: TAG, newOid: null, expectedOld: s.publish }]);
  t.deepEqual(log, PUSH_ONLY);
  t.deepEqual(sorted(await cliRefs(bare)), [['refs/heads/main', s.publish]]);
});

test.serial('updateRefs (remote): one stale expected value refuses them all', async (t) => {
  const { name, bare } = await serverRepo(PACKAGE_TREE);
  const repo = await clone(name);
  const s = await publishSetup(repo);
  const before = await cliRefs(bare);
  // the draft branch moved on the remote
  const moved = await cliCommit(bare, 'drafts/cluster01/infra/net/nginx/ws1', { 'x.txt': 'x\n' });
  const err = await t.throwsAsync(repo.updateRefs(publishUpdates(s)), { instanceOf: GitConflictError });
  t.regex(err!.message, new RegExp(`${DRAFT} is at ${moved}`));
  t.deepEqual(sorted(await cliRefs(bare)), sorted(new Map([...before, [DRAFT, moved]])), 'nothing applied');
  t.deepEqual(sorted(await repoRefs(repo)), sorted(before), 'local refs unchanged');
});

for (const hook of ['update', 'pre-receive'] as const) {
  test.serial(`updateRefs (remote): a ${hook} hook refusing one of three updates leaves none applied; then a retry succeeds`, async (t) => {
    const { name, bare } = await serverRepo(PACKAGE_TREE);
    const repo = await clone(name);
    const s = await publishSetup(repo);
    const before = await cliRefs(bare);
    await refuseRefs(bare, hook, 'refs/tags/*');
    const err = await t.throwsAsync(repo.updateRefs(publishUpdates(s)), { instanceOf: GitConflictError });
    t.regex(err!.message, /rejected/);
    t.deepEqual(sorted(await cliRefs(bare)), sorted(before), 'nothing applied on the remote');
    t.deepEqual(sorted(await repoRefs(repo)), sorted(before), 'nor locally');

    await rm(path.join(bare, 'hooks', hook));
    await repo.updateRefs(publishUpdates(s));
    t.deepEqual(sorted(await cliRefs(bare)), [['refs/heads/main', s.publish], [TAG, s.publish]]);
    await assertFsckClean(t, bare);
  });
}

test.serial('updateRefs (remote): without atomic pushes, one request per update in order; a refusal names what was applied', async (t) => {
  const { name, bare } = await serverRepo(PACKAGE_TREE);
  await git(bare, 'config', 'receive.advertiseAtomic', 'false');
  const repo = await clone(name);
  const s = await publishSetup(repo);
  await refuseRefs(bare, 'update', 'refs/tags/*');
  const log = recordRequests(name);
  const err = await t.throwsAsync(repo.updateRefs(publishUpdates(s)), { instanceOf: GitPartialUpdateError });
  t.deepEqual(err!.applied, ['refs/heads/main']);
  t.deepEqual(log, [...RECEIVE_PACK, 'POST git-receive-pack']);
  t.deepEqual(sorted(await cliRefs(bare)), [[DRAFT, s.draft], ['refs/heads/main', s.publish]]);
  t.deepEqual(sorted(await repoRefs(repo)), sorted(await cliRefs(bare)));

  await rm(path.join(bare, 'hooks', 'update'));
  await repo.updateRefs(publishUpdates(s).slice(1));
  t.deepEqual(sorted(await cliRefs(bare)), [['refs/heads/main', s.publish], [TAG, s.publish]]);
  await assertFsckClean(t, bare);
});

test.serial('updateRefs (remote): a commit made before a restart is pushed with the objects of its diff', async (t) => {
  const { name, bare } = await serverRepo(PACKAGE_TREE);
  const gitdir = path.join(tmp, uniq('clone'));
  const first = await GitRepo.open({ gitdir, remote: { url: server.url(name), auth: AUTH } });
  const main = (await first.resolve('refs/heads/main'))!;
  const c1 = await first.commitFiles({ parent: main, dir: 'catalog/new/pkg', files: files({ Kptfile: 'k\n', 'a/b.yaml': 'b\n' }), message: 'c1' });
  const c2 = await first.commitFiles({ parent: c1, dir: 'catalog/base', files: null, message: 'c2' });
  const second = await GitRepo.open({ gitdir, remote: { url: server.url(name), auth: AUTH } });
  const log = recordRequests(name);
  await second.updateRefs([{ ref: 'refs/heads/main', newOid: c2, expectedOld: main }]);
  t.deepEqual(log, RECEIVE_PACK);
  // not isomorphic-git's push (which records the pushed ref under refs/remotes/)
  await t.throwsAsync(stat(path.join(gitdir, 'refs/remotes/origin/main')), { code: 'ENOENT' });
  t.is(await revParse(bare, 'main'), c2);
  t.is(await git(bare, 'show', 'main:catalog/new/pkg/a/b.yaml'), 'b\n');
  await assertFsckClean(t, bare);
});

test.serial('updateRefs (local): all checked before any is written', async (t) => {
  const { bare } = await serverRepo(PACKAGE_TREE);
  const repo = await GitRepo.open({ gitdir: bare });
  const s = await publishSetup(repo);
  const before = await cliRefs(bare);
  const stale = publishUpdates(s).map((u) => (u.ref === DRAFT ? { ...u, expectedOld: s.main } : u));
  await t.throwsAsync(repo.updateRefs(stale), { instanceOf: GitConflictError, message: new RegExp(DRAFT) });
  t.deepEqual(sorted(await cliRefs(bare)), sorted(before));
  await repo.updateRefs(publishUpdates(s));
  t.deepEqual(sorted(await cliRefs(bare)), [['refs/heads/main', s.publish], [TAG, s.publish]]);
});

test.serial('PackageRepo (remote): propose is one request, publish is one request leaving commit and tag; a refused tag leaves nothing, a retry publishes', async (t) => {
  const { name, bare } = await serverRepo({ 'README.md': 'x\n' });
  const repo = await clone(name);
  const pkgs = new PackageRepo({ namespace: 'ns', name, url: server.url(name), ref: 'main', directory: '', deployment: false }, repo);
  const key = { target: 'catalog', realm: 'infra/net', package: 'nginx' };
  const author = { name: 'a', email: 'a@example.com' };
  const draftBranch = pkgs.layout.draftBranch(key, 'ws1');
  const proposedBranch = pkgs.layout.proposedBranch(key, 'ws1');
  const draft = await pkgs.createBranch(draftBranch, key, files({ Kptfile: 'k\n' }), 'Create draft', author);
  const log = recordRequests(name);
  t.is(await pkgs.renameBranch(draftBranch, proposedBranch), draft);
  t.deepEqual(log, PUSH_ONLY);
  const main = (await pkgs.head())!;
  const proposed = await cliRefs(bare);
  t.deepEqual(sorted(proposed), [['refs/heads/main', main], [`refs/heads/${proposedBranch}`, draft]]);

  await refuseRefs(bare, 'update', 'refs/tags/*');
  log.length = 0;
  await t.throwsAsync(pkgs.publish(proposedBranch, key, 'v1', 'Publish', author), { instanceOf: GitConflictError });
  t.deepEqual(log.slice(0, 3), [...PUSH_ONLY, ...RECEIVE_PACK], 'refused without the advertisement, so asked again with it');
  t.deepEqual(sorted(await cliRefs(bare)), sorted(proposed), 'nothing applied');
  await rm(path.join(bare, 'hooks', 'update'));

  log.length = 0;
  const { commit, tag } = await pkgs.publish(proposedBranch, key, 'v1', 'Publish', author);
  t.deepEqual(log, PUSH_ONLY);
  t.is(tag, pkgs.layout.tag(key, 'v1'));
  t.deepEqual(sorted(await cliRefs(bare)), [['refs/heads/main', commit], [`refs/tags/${tag}`, commit]]);
  t.deepEqual((await git(bare, 'rev-list', 'main')).trim().split('\n'), [commit, main]);
  t.is(await git(bare, 'show', `main:${pkgs.layout.packagePath(key)}/Kptfile`), 'k\n');
  // the tag exists now: a second publish of it is a conflict and changes nothing
  const again = await pkgs.createBranch(proposedBranch, key, files({ Kptfile: 'k2\n' }), 'again', author);
  await t.throwsAsync(pkgs.publish(proposedBranch, key, 'v1', 'Publish', author), { instanceOf: GitConflictError, message: /exists/ });
  t.deepEqual(sorted(await cliRefs(bare)), [['refs/heads/main', commit], [`refs/heads/${proposedBranch}`, again], [`refs/tags/${tag}`, commit]]);
  await assertFsckClean(t, bare);
});

test.serial('PackageRepo (remote): a commit pushed by another clone (another replica) is fetched when read, one fetch shared by concurrent readers', async (t) => {
  const { name } = await serverRepo({ 'README.md': 'x\n' });
  const cfg = { namespace: 'ns', name, url: server.url(name), ref: 'main', directory: '', deployment: true };
  const [a, b] = [new PackageRepo(cfg, await clone(name)), new PackageRepo(cfg, await clone(name))];
  const key = { target: 'c1', realm: 'apps', package: 'web' };
  const author = { name: 'a', email: 'a@example.com' };
  const commit = await a.createBranch(a.layout.draftBranch(key, 'ws1'), key, files({ Kptfile: 'k\n', 'cm.yaml': 'kind: ConfigMap\n' }), 'Create draft', author);
  const log = recordRequests(name);
  const reads = await Promise.all([b.files(commit, key), b.files(commit, key), b.packageTree(commit, key), b.trailer(commit), b.files(commit, key)]);
  const [f1, f2, tree, , f3] = reads;
  for (const f of [f1, f2, f3]) t.deepEqual([...f.entries()].map(([p, c]) => [p, c.toString()]).sort(), [['Kptfile', 'k\n'], ['cm.yaml', 'kind: ConfigMap\n']]);
  t.is(tree, await a.packageTree(commit, key));
  const fetches = log.filter((l) => l === 'POST git-upload-pack');
  t.true(fetches.length >= 1 && fetches.length <= 2, `one fetch (and at most one queued behind it): ${log.join(', ')}`);
  // present now: no request at all
  log.length = 0;
  t.is((await b.files(commit, key)).size, 2);
  t.deepEqual(log, []);
  // a commit that is nowhere is an error after a fetch, not an empty package
  log.length = 0;
  const nowhere = '0123456789abcdef0123456789abcdef01234567';
  await t.throwsAsync(b.files(nowhere, key), { instanceOf: GitObjectNotFoundError });
  await t.throwsAsync(b.packageTree(nowhere, key), { instanceOf: GitObjectNotFoundError });
  t.true(log.includes('GET info/refs?service=git-upload-pack'), `fetched first: ${log.join(', ')}`);
});
