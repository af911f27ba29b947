// A git remote that accepts connections and never answers (issue 8, "Errors from git are typed all
// the way"): a TCP server in the test that takes every connection and says nothing.
//
// * GitRepo: past its timeout, even one longer than Node's 5 s keep-alive socket timeout, the
//   failure is GitUnreachableError naming the remote (it was an untyped "Request timed out"); for
//   the next timeout's length the remote is not asked again (no new connection), the failure is at once.
// * The server with --git-timeout 3: a PackageRevision create in that repository answers 503
//   ServiceUnavailable with Retry-After and a message naming the Repository; the Repository is
//   Ready=False with reason Unreachable; another (local) repository works meanwhile.
import test, { type ExecutionContext } from 'ava';
import net from 'node:net';
import path from 'node:path';
import { GitRepo, GitUnreachableError } from '../src/storage/git/repo.ts';
import { git } from './helpers/gitserver.ts';
import { HttpClient } from './helpers/http.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';

const PKG = 'pkg.pkgserver.dev/v1alpha1';
const CFG = 'config.pkg.pkgserver.dev/v1alpha1';
const NS = 'dead';
const PR = `/apis/${PKG}/namespaces/${NS}/packagerevisions`;
const REPOS = `/apis/${CFG}/namespaces/${NS}/repositories`;
const MERGE = 'application/merge-patch+json';

let server: ServerHandle | undefined;

test.after.always(async () => {
  await server?.stop();
});

/** A TCP server that accepts every connection and never sends a byte; `connections` counts them. */
async function blackHole(t: ExecutionContext): Promise<{ url: string; connections(): number }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const srv = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => srv.close(resolve));
  });
  return { url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/x.git`, connections: () => connections };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** what a failure says when the remote was not asked again after one that got no answer */
const NOT_ASKED = (ms: number) => ` \\(to a request \\d+ ms ago; asked again ${ms} ms after it\\)`;

test('GitRepo: a remote silent for longer than Node\'s socket timeout is GitUnreachableError after timeoutMs, then not asked again for as long', async (t) => {
  const dead = await blackHole(t);
  const open = () => GitRepo.open({ gitdir: path.join(tempDir('dead-clone-'), 'x.git'), remote: { url: dead.url }, timeoutMs: 6000 });
  const err = await t.throwsAsync(open(), { instanceOf: GitUnreachableError });
  t.is(err!.message, `fetch ${dead.url}: no answer within 6000 ms`);
  const connections = dead.connections();
  t.true(connections >= 1);
  const again = await t.throwsAsync(open(), { instanceOf: GitUnreachableError });
  t.regex(again!.message, new RegExp(`^fetch ${escape(dead.url)}: no answer within 6000 ms${NOT_ASKED(6000)}$`));
  t.is(dead.connections(), connections);
});

test('a write to a repository whose remote never answers is 503 with Retry-After; the Repository is Unreachable; the others work', async (t) => {
  t.timeout(180_000);
  const dead = await blackHole(t);
  server = await startServer({ controllers: true, args: ['--git-timeout', '3'] });
  const admin = new HttpClient(server.url, adminTLS(server));
  const dir = tempDir('dead-local-');
  const bare = path.join(dir, 'local.git');
  await git(dir, 'init', '-q', '--bare', '-b', 'main', bare);
  for (const [name, url] of [
    ['dead', dead.url],
    ['local', bare],
  ]) {
    const r = await admin.post(REPOS, { apiVersion: CFG, kind: 'Repository', metadata: { name }, spec: { deployment: true, git: { url }, sync: { period: '5s' } } });
    t.is(r.status, 201, JSON.stringify(r.body));
  }
  const create = (repository: string, pkg: string) =>
    admin.post(PR, {
      apiVersion: PKG,
      kind: 'PackageRevision',
      metadata: { name: `c1.${repository}..${pkg}.ws1` },
      spec: { packageRevID: { target: 'c1', repository, realm: '', package: pkg, workspace: 'ws1' }, tasks: [{ type: 'init' }] },
    });

  // a write into the dead repository, and meanwhile a whole lifecycle in the local one
  const refusedP = create('dead', 'web');
  const created = await create('local', 'web');
  t.is(created.status, 201, JSON.stringify(created.body));
  t.is((await admin.patch(`${PR}/c1.local..web.ws1`, { spec: { lifecycle: 'proposed' } }, MERGE)).status, 200);
  const published = await admin.patch(`${PR}/c1.local..web.ws1`, { spec: { lifecycle: 'published' } }, MERGE);
  t.is(published.status, 200, JSON.stringify(published.body));
  t.is(published.body.spec.packageRevID.revision, 'v1');

  const refused = await refusedP;
  t.is(refused.status, 503, JSON.stringify(refused.body));
  t.is(refused.headers['retry-after'], '1');
  t.like(refused.body, { kind: 'Status', status: 'Failure', reason: 'ServiceUnavailable', code: 503, details: { retryAfterSeconds: 1 } });
  t.regex(refused.body.message, new RegExp(`^Repository "dead" is unreachable: (fetch|push refs/heads/drafts/c1/web/ws1 to) ${escape(dead.url)}: no answer within 3000 ms(${NOT_ASKED(3000)})?$`));
  // nothing was stored
  t.is((await admin.get(`${PR}/c1.dead..web.ws1`)).status, 404);

  // the repository sync says why
  const ready = await poll('Repository dead Ready=False', async () => {
    const c = (await admin.get(`${REPOS}/dead`)).body.status?.conditions?.find((x: any) => x.type === 'Ready');
    return c?.status === 'False' ? c : undefined;
  });
  t.is(ready.reason, 'Unreachable');
  t.regex(ready.message, new RegExp(`^fetch ${escape(dead.url)}: no answer within 3000 ms(${NOT_ASKED(3000)})? \\(check spec\\.git\\.url and that the git server is up; the sync retries with backoff\\)$`));
  const local = await poll('Repository local Ready', async () => (await admin.get(`${REPOS}/local`)).body.status?.conditions?.find((x: any) => x.type === 'Ready'));
  t.like(local, { status: 'True', reason: 'Synced' });
});
