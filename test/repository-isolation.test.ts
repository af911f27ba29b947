// Repository isolation end to end (issue 8, point 4), over HTTPS against the real server: a
// Repository in team-b can reach only what its URL and credentials reach. Local paths are refused
// outside --local-repository-root, inside the data directory (where the server mirrors team-a's
// credentialed remote) even though the root holds it, through symbolic links, and when no root
// is configured; full refs, unclean directories and another namespace's credentials are refused;
// the engine checks a local repository again when it opens it; a local repository under the root
// works.
import test from 'ava';
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { git, startGitServer, type GitServer } from './helpers/gitserver.ts';
import { HttpClient } from './helpers/http.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';

const PASSWORD = 'isolation-secret-7';
const REPOS = (ns: string) => `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${ns}/repositories`;
const PRS = (ns: string) => `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${ns}/packagerevisions`;

const OUTSIDE = 'must be under a directory the server allows for local repositories (--local-repository-root)';
const SPECIAL = 'must not be under /proc, /sys or /dev';
const DATA = "must not be inside (or contain) the server's data directory";
const NO_ROOTS = 'local repositories are not allowed on this server: the server must be started with --local-repository-root to allow the directories they may be in';

let gitServer: GitServer;
let server: ServerHandle;
let admin: HttpClient;
/** the server's mirror of team-a's remote, in its data directory */
let mirror: string;

const repository = (name: string, git: Record<string, unknown>) => ({
  apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
  kind: 'Repository',
  metadata: { name },
  spec: { deployment: true, git },
});

async function bareRepo(name: string): Promise<string> {
  const dir = tempDir(`${name}-`);
  const bare = path.join(dir, `${name}.git`);
  await git(dir, 'init', '-q', '--bare', '-b', 'main', bare);
  return bare;
}

/** The Ready condition of a Repository once it has one with `status`. */
const ready = (ns: string, name: string, status: 'True' | 'False') =>
  poll(`Repository ${ns}/${name} Ready=${status}`, async () => {
    const r = await admin.request('GET', `${REPOS(ns)}/${name}`);
    const c = r.body.status?.conditions?.find((x: { type: string }) => x.type === 'Ready');
    return c?.status === status ? c : undefined;
  });

const draft = (ns: string, repo: string) =>
  admin.request('POST', PRS(ns), {
    body: {
      apiVersion: 'pkg.pkgserver.dev/v1alpha1',
      kind: 'PackageRevision',
      metadata: { name: `c1.${repo}.apps.web.ws1` },
      spec: { packageRevID: { target: 'c1', repository: repo, realm: 'apps', package: 'web', workspace: 'ws1' }, tasks: [{ type: 'init' }] },
    },
  });

test.before(async () => {
  gitServer = await startGitServer({ user: 'git', password: PASSWORD, requireAuthForRead: true });
  await gitServer.createBareRepo('deploy', { initialFiles: { 'README.md': 'team-a only\n' } });
  const creds = path.join(tempDir('isolation-creds-'), 'credentials.yaml');
  writeFileSync(creds, `team-a/deploy-auth: {username: git, password: ${PASSWORD}}\n`);
  server = await startServer({ controllers: true, args: ['--credentials-file', creds] });
  admin = new HttpClient(server.url, adminTLS(server));
  const r = await admin.request('POST', REPOS('team-a'), { body: repository('deploy', { url: gitServer.url('deploy'), credentials: 'deploy-auth' }) });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  await ready('team-a', 'deploy', 'True');
  const dir = path.join(server.dataDir, 'git', 'team-a');
  mirror = path.join(dir, readdirSync(dir).find((f) => /^deploy-[0-9a-f]{12}\.git$/.test(f))!);
});

test.after.always(async () => {
  await server?.stop();
  await gitServer?.stop();
});

/** POSTs a team-b Repository and checks kube's 422 Invalid with exactly one cause. */
async function refused(t: import('ava').ExecutionContext, name: string, git: Record<string, unknown>, field: string, value: string, why: string) {
  const r = await admin.request('POST', REPOS('team-b'), { body: repository(name, git) });
  const message = `Invalid value: ${JSON.stringify(value)}: ${why}`;
  t.is(r.status, 422, `${name}: ${JSON.stringify(r.body)}`);
  t.is(r.body.reason, 'Invalid');
  t.is(r.body.message, `Repository.config.pkg.pkgserver.dev "${name}" is invalid: ${field}: ${message}`);
  t.deepEqual(r.body.details.causes, [{ reason: 'FieldValueInvalid', message, field }]);
}

test.serial('the cases seen in the issue are refused with 422 naming the rule', async (t) => {
  await refused(t, 'nul', { url: '/tmp/x\u0000y' }, 'spec.git.url', '/tmp/x\u0000y', 'must not contain NUL or control characters');
  await refused(t, 'environ', { url: 'file:///proc/self/environ' }, 'spec.git.url', 'file:///proc/self/environ', SPECIAL);
  await refused(t, 'cwd', { url: '/proc/self/cwd' }, 'spec.git.url', '/proc/self/cwd', SPECIAL);
  await refused(t, 'slash', { url: '/' }, 'spec.git.url', '/', OUTSIDE);
  await refused(t, 'space', { url: gitServer.url('deploy'), directory: ' ' }, 'spec.git.directory', ' ', 'a segment must not begin or end with whitespace');
  await refused(t, 'fullref', { url: gitServer.url('deploy'), ref: 'refs/heads/x' }, 'spec.git.ref', 'refs/heads/x', 'must be a branch name such as main, not a full ref');
  const other = 'team-a/deploy-auth';
  await refused(t, 'borrowed', { url: gitServer.url('deploy'), credentials: other }, 'spec.git.credentials', other, 'must be the name of credentials in the Repository\'s own namespace, without a namespace ("/" is not allowed)');
  t.deepEqual((await admin.request('GET', REPOS('team-b'))).body.items, []);
});

test.serial("team-a's mirror in the data directory is refused to team-b although the root holds it", async (t) => {
  t.true(mirror.startsWith(`${path.dirname(server.dataDir)}${path.sep}`), 'the data directory is under the root (the temporary directory)');
  await refused(t, 'mirror', { url: mirror }, 'spec.git.url', mirror, DATA);
  await refused(t, 'mirror-file', { url: `file://${mirror}` }, 'spec.git.url', `file://${mirror}`, DATA);
  await refused(t, 'data', { url: server.dataDir }, 'spec.git.url', server.dataDir, DATA);
  const dotted = `${path.dirname(server.dataDir)}//nothing/.././${path.basename(server.dataDir)}/git/team-a/${path.basename(mirror)}`;
  await refused(t, 'dotted', { url: dotted }, 'spec.git.url', dotted, DATA);
  // a symbolic link under the root to the mirror, and one to the data directory with the rest after it
  const links = tempDir('isolation-links-');
  symlinkSync(mirror, path.join(links, 'mirror.git'));
  symlinkSync(server.dataDir, path.join(links, 'data'));
  await refused(t, 'link', { url: path.join(links, 'mirror.git') }, 'spec.git.url', path.join(links, 'mirror.git'), DATA);
  const through = path.join(links, 'data', 'git', 'team-a', path.basename(mirror));
  await refused(t, 'through', { url: `file://${through}` }, 'spec.git.url', `file://${through}`, DATA);
  t.deepEqual((await admin.request('GET', REPOS('team-b'))).body.items, []);
});

test.serial("team-b naming team-a's credentials by their bare name gets none: it cannot read the remote", async (t) => {
  const r = await admin.request('POST', REPOS('team-b'), { body: repository('borrow', { url: gitServer.url('deploy'), credentials: 'deploy-auth' }) });
  t.is(r.status, 201, JSON.stringify(r.body));
  const c = await ready('team-b', 'borrow', 'False');
  t.is(c.reason, 'SyncFailed');
  t.is(c.message, 'credentials "deploy-auth" of Repository "borrow" are not configured');
  t.deepEqual(readdirSync(path.join(server.dataDir, 'git')).sort(), ['team-a'], 'nothing was fetched for team-b');
  t.is((await draft('team-b', 'borrow')).status, 503);
  t.is((await admin.request('DELETE', `${REPOS('team-b')}/borrow`)).status, 200);
});

test.serial('a local repository under the configured root works: synced, and a draft can be created', async (t) => {
  const r = await admin.request('POST', REPOS('team-b'), { body: repository('local', { url: await bareRepo('local') }) });
  t.is(r.status, 201, JSON.stringify(r.body));
  t.is((await ready('team-b', 'local', 'True')).reason, 'Synced');
  const d = await draft('team-b', 'local');
  t.is(d.status, 201, JSON.stringify(d.body));
  t.is(d.body.spec.lifecycle, 'draft');
});

test.serial('the engine checks a local repository again when it opens it: a link changed after validation', async (t) => {
  const dir = tempDir('isolation-late-');
  const link = path.join(dir, 'late.git');
  symlinkSync(path.join(dir, 'not-yet.git'), link);
  const r = await admin.request('POST', REPOS('team-b'), { body: repository('late', { url: link }) });
  t.is(r.status, 201, JSON.stringify(r.body));
  const failed = await ready('team-b', 'late', 'False');
  t.is(failed.reason, 'SyncFailed');
  t.is(failed.message, 'Repository "late": spec.git.url is not a bare git repository the server can open', 'no path in the message');
  rmSync(link);
  symlinkSync(mirror, link);
  const d = await draft('team-b', 'late');
  t.is(d.status, 503);
  t.is(d.body.message, `Repository "late": spec.git.url ${DATA}`);
});

test.serial("the engine refuses a local repository whose objects are a link out of it (to team-a's mirror)", async (t) => {
  const sneaky = await bareRepo('sneaky');
  rmSync(path.join(sneaky, 'objects'), { recursive: true });
  symlinkSync(path.join(mirror, 'objects'), path.join(sneaky, 'objects'));
  mkdirSync(path.join(sneaky, 'refs', 'heads'), { recursive: true });
  const r = await admin.request('POST', REPOS('team-b'), { body: repository('sneaky', { url: sneaky }) });
  t.is(r.status, 201, JSON.stringify(r.body));
  const why = 'Repository "sneaky": spec.git.url must be a repository whose objects and refs are inside it, not symbolic links out of it';
  const c = await ready('team-b', 'sneaky', 'False');
  t.is(c.message, why);
  const d = await draft('team-b', 'sneaky');
  t.is(d.status, 503);
  t.is(d.body.message, why);
});

test('a server started without --local-repository-root refuses every local path, and says which flag allows them', async (t) => {
  const bare = await bareRepo('rootless');
  const s = await startServer({ localRoots: [] });
  try {
    const c = new HttpClient(s.url, adminTLS(s));
    for (const url of [bare, `file://${bare}`]) {
      const r = await c.request('POST', REPOS('team-b'), { body: repository('rootless', { url }) });
      t.is(r.status, 422);
      t.deepEqual(r.body.details.causes, [{ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(url)}: ${NO_ROOTS}`, field: 'spec.git.url' }]);
    }
    t.is((await c.request('POST', REPOS('team-b'), { body: repository('remote', { url: 'https://example.com/org/repo.git' }) })).status, 201);
  } finally {
    await s.stop();
  }
});
