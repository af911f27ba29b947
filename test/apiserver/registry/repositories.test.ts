// Repository isolation rules, unit by unit: git ref and branch names, the repository directory,
// local paths (roots, the data directory, symbolic links, /proc), the URL and credentials fields
// of the Repository strategy, and the credentials file's namespace lookup.
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Repository } from '../../../src/api/config.ts';
import { canonicalPath, isWithin, localPath, localPathError } from '../../../src/api/localrepos.ts';
import { branchField, directoryField, isValidRefName } from '../../../src/api/names.ts';
import { repositoryResource, validateURL } from '../../../src/apiserver/registry/repositories.ts';
import type { RequestContext } from '../../../src/apiserver/registry/types.ts';
import { credentialsFile } from '../../../src/storage/git/credentials.ts';

const NOT_FULL_REF = 'must be a branch name such as main, not a full ref';
const BAD_BRANCH =
  'must be a valid git branch name (git check-ref-format --branch): no control characters, space, ~ ^ : ? * [ \\, "..", "@{", empty segments, a segment starting with "." or ending with ".lock", a leading "-" or a trailing "."';
const NO_ROOTS = 'local repositories are not allowed on this server: the server must be started with --local-repository-root to allow the directories they may be in';
const OUTSIDE = 'must be under a directory the server allows for local repositories (--local-repository-root)';
const DATA = "must not be inside (or contain) the server's data directory";
const SPECIAL = 'must not be under /proc, /sys or /dev';
const LOOP = 'must not have a loop of symbolic links';

const msg = (value: string, why: string) => `Invalid value: ${JSON.stringify(value)}: ${why}`;

test('isValidRefName: git check-ref-format for branches and tags', (t) => {
  for (const good of ['refs/heads/main', 'refs/heads/feature/x', 'refs/tags/v1.0.0', 'refs/heads/ü', 'refs/heads/a.b', 'refs/heads/a-lock'])
    t.true(isValidRefName(good), good);
  for (const bad of [
    'main',
    'refs/remotes/origin/main',
    'refs/heads/',
    'refs/heads/a/',
    'refs/heads/a.',
    'refs/heads/a..b',
    'refs/heads/a@{1}',
    'refs/heads/a b',
    'refs/heads/a\tb',
    'refs/heads/a\u007fb',
    'refs/heads/a~1',
    'refs/heads/a^',
    'refs/heads/a:b',
    'refs/heads/a?',
    'refs/heads/a*',
    'refs/heads/a[b',
    'refs/heads/a\\b',
    'refs/heads/a//b',
    'refs/heads/.a',
    'refs/heads/x/.a',
    'refs/heads/a.lock',
    'refs/heads/a.lock/b',
  ])
    t.false(isValidRefName(bad), JSON.stringify(bad));
});

test('spec.git.ref is a branch name, not a full ref', (t) => {
  for (const good of ['main', 'release/1.x', 'feature-a', 'v1.0', 'ü']) t.deepEqual(branchField('spec.git.ref', good), [], good);
  t.deepEqual(branchField('spec.git.ref', 'refs/heads/x'), [{ type: 'FieldValueInvalid', field: 'spec.git.ref', message: msg('refs/heads/x', NOT_FULL_REF) }]);
  t.is(branchField('spec.git.ref', 'refs/tags/v1')[0].message, msg('refs/tags/v1', NOT_FULL_REF));
  for (const bad of ['-x', 'HEAD', '@', 'a..b', 'a b', 'a~', 'a^', 'a:b', 'a?', 'a*', 'a[', 'a\\b', 'a\u0000b', 'a\nb', 'x.lock', '.x', 'a/.x', 'a/', '/a', 'a//b', 'a@{1}', 'a.'])
    t.deepEqual(branchField('spec.git.ref', bad), [{ type: 'FieldValueInvalid', field: 'spec.git.ref', message: msg(bad, BAD_BRANCH) }], JSON.stringify(bad));
  t.is(branchField('spec.git.ref', '')[0].message, 'Invalid value: "": must be a branch name such as main');
  t.deepEqual(branchField('spec.git.ref', 'a'.repeat(200)), []);
  t.deepEqual(branchField('spec.git.ref', 'a'.repeat(201)), [{ type: 'FieldValueTooLong', field: 'spec.git.ref', message: 'Too long: may not be more than 200 bytes' }]);
});

test('spec.git.directory is a clean relative path', (t) => {
  for (const good of ['', 'a', 'a/b', 'deploy/clusters', 'a b', '.github', 'x.git', 'ü']) t.deepEqual(directoryField('spec.git.directory', good), [], good);
  const cases: [string, string][] = [
    [' ', 'a segment must not begin or end with whitespace'],
    [' a', 'a segment must not begin or end with whitespace'],
    ['a/b ', 'a segment must not begin or end with whitespace'],
    ['a/\u00a0', 'a segment must not begin or end with whitespace'],
    ['/a', 'must be a relative path (no leading "/")'],
    ['/', 'must be a relative path (no leading "/")'],
    ['a/', 'must not contain empty, "." or ".." segments (nor a trailing "/")'],
    ['a//b', 'must not contain empty, "." or ".." segments (nor a trailing "/")'],
    ['.', 'must not contain empty, "." or ".." segments (nor a trailing "/")'],
    ['a/./b', 'must not contain empty, "." or ".." segments (nor a trailing "/")'],
    ['..', 'must not contain empty, "." or ".." segments (nor a trailing "/")'],
    ['a/../..', 'must not contain empty, "." or ".." segments (nor a trailing "/")'],
    ['a\u0000b', 'must not contain control or bidirectional formatting characters'],
    ['a\nb', 'must not contain control or bidirectional formatting characters'],
    ['a\u007f', 'must not contain control or bidirectional formatting characters'],
    ['a\u202eb', 'must not contain control or bidirectional formatting characters'],
    ['.git', 'must not contain a ".git", ".gitmodules" or ".gitattributes" segment'],
    ['a/.GIT/b', 'must not contain a ".git", ".gitmodules" or ".gitattributes" segment'],
    ['.gitmodules', 'must not contain a ".git", ".gitmodules" or ".gitattributes" segment'],
    ['x/.gitattributes', 'must not contain a ".git", ".gitmodules" or ".gitattributes" segment'],
  ];
  for (const [bad, why] of cases)
    t.deepEqual(directoryField('spec.git.directory', bad), [{ type: 'FieldValueInvalid', field: 'spec.git.directory', message: msg(bad, why) }], JSON.stringify(bad));
});

const made: string[] = [];
test.after.always(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A root with a data directory inside it (as the tests' servers have), a sibling and links. */
function layout() {
  const base = mkdtempSync(path.join(os.tmpdir(), 'repo-rules-'));
  made.push(base);
  const root = path.join(base, 'root');
  const data = path.join(root, 'data');
  mkdirSync(path.join(data, 'git', 'team-a', 'deploy.git'), { recursive: true });
  mkdirSync(path.join(root, 'repos', 'a.git'), { recursive: true });
  mkdirSync(path.join(base, 'rootx', 'b.git'), { recursive: true });
  symlinkSync(path.join(data, 'git'), path.join(root, 'into-data'));
  symlinkSync(path.join(data, 'git', 'team-a', 'not-yet.git'), path.join(root, 'dangling'));
  symlinkSync('../root/repos', path.join(root, 'relative'));
  symlinkSync(path.join(root, 'loop2'), path.join(root, 'loop1'));
  symlinkSync(path.join(root, 'loop1'), path.join(root, 'loop2'));
  symlinkSync(data, path.join(base, 'data-link'));
  return { base, root, data };
}

test('canonicalPath resolves ".", "..", duplicate slashes and every link, dangling ones too', (t) => {
  const { base, root, data } = layout();
  t.is(canonicalPath(`${root}//repos/./a.git/`), path.join(root, 'repos', 'a.git'));
  t.is(canonicalPath(`${root}/repos/../repos/a.git`), path.join(root, 'repos', 'a.git'));
  t.is(canonicalPath(`${root}/into-data/team-a/deploy.git`), path.join(data, 'git', 'team-a', 'deploy.git'));
  t.is(canonicalPath(`${root}/dangling`), path.join(data, 'git', 'team-a', 'not-yet.git'));
  t.is(canonicalPath(`${root}/relative/a.git`), path.join(root, 'repos', 'a.git'));
  t.is(canonicalPath(`${root}/missing/x/../y`), path.join(root, 'missing', 'y'));
  t.is(canonicalPath(`${base}/data-link/git`), path.join(data, 'git'));
  t.is(canonicalPath(`${root}/loop1`), undefined);
  t.is(canonicalPath('/'), '/');
});

test('isWithin compares whole components', (t) => {
  t.true(isWithin('/tmp/root', '/tmp/root'));
  t.true(isWithin('/tmp/root/x', '/tmp/root'));
  t.true(isWithin('/tmp/root/..x', '/tmp/root'));
  t.false(isWithin('/tmp/rootx', '/tmp/root'));
  t.false(isWithin('/tmp', '/tmp/root'));
  t.true(isWithin('/anything', '/'));
});

test('localPath: /abs or file:///abs, taken literally', (t) => {
  t.is(localPath('/srv/git/a.git'), '/srv/git/a.git');
  t.is(localPath('file:///srv/git/a.git'), '/srv/git/a.git');
  t.is(localPath('file:///srv/a%20b'), '/srv/a%20b');
  t.is(localPath('file://host/srv/a'), undefined);
  t.is(localPath('relative/a.git'), undefined);
  t.is(localPath('https://example.com/a.git'), undefined);
});

test('localPathError: only under a root, never in or above the data directory, never /proc', (t) => {
  const { base, root, data } = layout();
  const policy = { roots: [root], dataDir: data };
  t.is(localPathError(`${root}/repos/a.git`, policy), undefined);
  t.is(localPathError(`${root}/relative/a.git`, policy), undefined);
  t.is(localPathError(`${root}/repos/not-there.git`, policy), undefined);
  t.is(localPathError(`${base}/rootx/b.git`, policy), OUTSIDE);
  t.is(localPathError(`${root}/../rootx/b.git`, policy), OUTSIDE);
  t.is(localPathError('/', policy), OUTSIDE);
  t.is(localPathError('/proc/self/environ', policy), SPECIAL);
  // the kernel's trees as written, whatever they resolve to: /proc/self/cwd is the server's own
  // working directory, which may be under a root
  t.is(localPathError('/proc/self/cwd', { roots: [process.cwd()], dataDir: data }), SPECIAL);
  t.is(localPathError('/proc/self/cwd/x.git', { roots: [process.cwd()], dataDir: data }), SPECIAL);
  t.is(localPathError(`${data}/git/team-a/deploy.git`, policy), DATA);
  t.is(localPathError(`${root}//data/./git/../git/team-a/deploy.git`, policy), DATA);
  t.is(localPathError(data, policy), DATA);
  t.is(localPathError(root, policy), DATA, 'a root that holds the data directory');
  t.is(localPathError(`${root}/into-data/team-a/deploy.git`, policy), DATA);
  t.is(localPathError(`${root}/dangling`, policy), DATA);
  t.is(localPathError(`${root}/repos/../into-data/team-a`, policy), DATA);
  t.is(localPathError(`${root}/loop1`, policy), LOOP);
  // the data directory named through a link: its real path is what counts
  t.is(localPathError(`${data}/git/team-a/deploy.git`, { roots: [root], dataDir: path.join(base, 'data-link') }), DATA);
  // "/" as a root still excludes the data directory and the kernel's trees
  const everything = { roots: ['/'], dataDir: data };
  t.is(localPathError(`${root}/repos/a.git`, everything), undefined);
  t.is(localPathError('/', everything), DATA);
  t.is(localPathError(`${data}/git/team-a/deploy.git`, everything), DATA);
  t.is(localPathError('/proc/self/environ', everything), SPECIAL);
  t.is(localPathError('/sys/kernel', everything), SPECIAL);
  t.is(localPathError('/dev/shm/x', everything), SPECIAL);
  t.is(localPathError(`${root}/repos/a.git`, { roots: [], dataDir: data }), NO_ROOTS);
});

test('spec.git.url: http(s) URLs with a host and no credentials, local paths per the policy', (t) => {
  const { root, data } = layout();
  const policy = { roots: [root], dataDir: data };
  const bad = (value: string, why: string) => [{ type: 'FieldValueInvalid', field: 'spec.git.url', message: msg(value, why) }];
  const FORMS = 'must be an https:// (or http://) URL of a git repository, or an absolute path or file:// URL of a local bare repository';
  for (const good of ['https://example.com/org/repo.git', 'http://127.0.0.1:8080/r.git', 'https://[::1]/r', `${root}/repos/a.git`, `file://${root}/repos/a.git`])
    t.deepEqual(validateURL(good, policy), [], good);
  t.deepEqual(validateURL('/tmp/x\u0000y', policy), bad('/tmp/x\u0000y', 'must not contain NUL or control characters'));
  t.deepEqual(validateURL('https://example.com/a\nb', policy), bad('https://example.com/a\nb', 'must not contain NUL or control characters'));
  t.deepEqual(validateURL('https://user:pw@example.com/r.git', policy), bad('<redacted>', 'credentials may not be embedded in the URL; use spec.git.credentials'));
  t.deepEqual(validateURL('https://example.com\\@evil/r', policy), bad('<redacted>', 'credentials may not be embedded in the URL; use spec.git.credentials'));
  for (const form of ['https://example.com', 'https://example.com/', 'https:///r.git', 'https://exa mple.com/r', 'https://example.com/a b', 'https://example.com\\evil/r', 'https://example.com/a\\b', 'HTTPS://example.com/r', 'ftp://example.com/r', 'file://host/r', 'relative/r.git', 'git@example.com:r.git'])
    t.deepEqual(validateURL(form, policy), bad(form, FORMS), form);
  t.deepEqual(validateURL('file:///proc/self/environ', policy), bad('file:///proc/self/environ', SPECIAL));
  t.deepEqual(validateURL('/', policy), bad('/', OUTSIDE));
  t.deepEqual(validateURL(`file://${data}/git/team-a/deploy.git`, policy), bad(`file://${data}/git/team-a/deploy.git`, DATA));
  t.deepEqual(validateURL(`${root}/repos/a.git`, { roots: [], dataDir: data }), bad(`${root}/repos/a.git`, NO_ROOTS));
  t.deepEqual(validateURL('/', undefined), [], 'an update does not check the location again');
});

const repository = (name: string, git: Partial<Repository['spec']['git']>): Repository =>
  ({
    apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
    kind: 'Repository',
    metadata: { name, namespace: 'team-b' },
    spec: { type: 'git', deployment: false, git: { url: 'https://example.com/r.git', ref: 'main', directory: '', ...git }, sync: { period: '60s' }, approval: { requireDistinctApprover: false } },
  }) as Repository;

test('the Repository strategy: the rules on create, the location ratcheted on update, credentials of its own namespace', async (t) => {
  const { root, data } = layout();
  const strategy = repositoryResource(() => [], { roots: [root], dataDir: data }).strategy!;
  const ctx = {} as RequestContext;
  t.deepEqual(await strategy.validate!(repository('ok', { url: `${root}/repos/a.git`, ref: 'release/1', directory: 'deploy/x' }), ctx), []);
  t.deepEqual(await strategy.validate!(repository('bad', { url: '/', ref: 'refs/heads/x', directory: ' ', credentials: 'team-a/deploy-auth' }), ctx), [
    { type: 'FieldValueInvalid', field: 'spec.git.url', message: msg('/', OUTSIDE) },
    { type: 'FieldValueInvalid', field: 'spec.git.ref', message: msg('refs/heads/x', NOT_FULL_REF) },
    { type: 'FieldValueInvalid', field: 'spec.git.directory', message: msg(' ', 'a segment must not begin or end with whitespace') },
    {
      type: 'FieldValueInvalid',
      field: 'spec.git.credentials',
      message: msg('team-a/deploy-auth', 'must be the name of credentials in the Repository\'s own namespace, without a namespace ("/" is not allowed)'),
    },
  ]);
  // a Repository stored under other roots can still have its labels or finalizers changed
  const old = repository('moved', { url: '/srv/elsewhere/r.git' });
  const changed = { ...old, metadata: { ...old.metadata, labels: { a: 'b' } } };
  t.deepEqual(await strategy.validateUpdate!(changed, old, ctx), []);
  t.deepEqual(await strategy.validateUpdate!(repository('moved', { url: `${data}/git/team-a/deploy.git` }), old, ctx), [
    { type: 'FieldValueInvalid', field: 'spec.git.url', message: msg(`${data}/git/team-a/deploy.git`, DATA) },
    { type: 'FieldValueInvalid', field: 'spec.git.url', message: `Invalid value: ${JSON.stringify(`${data}/git/team-a/deploy.git`)}: field is immutable` },
  ]);
});

test('the credentials file: the entry of the own namespace, else a global one, never another namespace\'s', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'creds-'));
  made.push(dir);
  const file = path.join(dir, 'credentials.yaml');
  writeFileSync(file, 'team-a/deploy-auth: {username: a, password: pa}\nshared: {token: tok}\nteam-b/shared: {username: b, password: pb}\n');
  const c = credentialsFile(file);
  t.deepEqual(await c.lookup('team-a', 'deploy-auth'), { username: 'a', password: 'pa' });
  t.is(await c.lookup('team-b', 'deploy-auth'), undefined);
  t.is(await c.lookup('team-b', 'team-a/deploy-auth'), undefined);
  t.is(await c.lookup('team-a', 'team-a/deploy-auth'), undefined);
  t.deepEqual(await c.lookup('team-b', 'shared'), { username: 'b', password: 'pb' });
  t.deepEqual(await c.lookup('team-c', 'shared'), { token: 'tok' });
  t.is(await c.lookup('team-c', 'constructor'), undefined, 'not a property of every object');
  t.is(await c.lookup('team-c', 'toString'), undefined);
});
