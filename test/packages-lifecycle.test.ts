// Lifecycle rules of SPEC 3.3 over raw HTTPS against the real server and local bare repositories:
// the approval subresource (and kubectl 1.33's --subresource=approval), readiness gates enforced
// by the server, a distinct approver, and deletion refused while a revision is an upstream.
import test from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { issueClientCert, kubeconfigYAML } from '../src/cli/pki.ts';
import { git } from './helpers/gitserver.ts';
import { HttpClient } from './helpers/http.ts';
import { Kubectl } from './helpers/kubectl.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';
import { policy } from './helpers/users.ts';

let server: ServerHandle;
let admin: HttpClient;
let bob: HttpClient;
let bobKubeconfig: string;
const NS = 'life';
const PR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisions`;

async function bareRepo(name: string): Promise<string> {
  const dir = tempDir(`${name}-`);
  const bare = path.join(dir, `${name}.git`);
  await git(dir, 'init', '-q', '--bare', '-b', 'main', bare);
  return bare;
}

test.before(async () => {
  // bob may approve in the test namespace (the policy file's example approver role)
  const policyFile = path.join(tempDir('life-policy-'), 'policy.yaml');
  writeFileSync(policyFile, policy([{ user: 'bob', role: 'pkgserver-approver', namespace: NS }]));
  server = await startServer({ controllers: true, args: ['--authorization-policy-file', policyFile] });
  const tls = adminTLS(server);
  admin = new HttpClient(server.url, tls);
  // a second user, bob, with a certificate from the server's client CA
  const pki = path.join(server.dataDir, 'pki');
  const cert = issueClientCert({ cert: readFileSync(path.join(pki, 'ca.crt'), 'utf8'), key: readFileSync(path.join(pki, 'ca.key'), 'utf8') }, 'bob', ['team-b']);
  bob = new HttpClient(server.url, { ca: tls.ca, cert: cert.cert, key: cert.key });
  bobKubeconfig = path.join(tempDir('bob-'), 'kubeconfig');
  writeFileSync(bobKubeconfig, kubeconfigYAML({ server: server.url, caCert: tls.ca, clientCert: cert.cert, clientKey: cert.key }));
  for (const [name, distinct] of [
    ['deploy', false],
    ['strict', true],
  ] as const) {
    const r = await admin.request('POST', `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/repositories`, {
      body: { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name }, spec: { deployment: true, git: { url: await bareRepo(name) }, approval: { requireDistinctApprover: distinct } } },
    });
    if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  }
});
test.after.always(async () => {
  await server?.stop();
});

const name = (repo: string, pkg: string, ws: string) => `c1.${repo}.apps.${pkg}.${ws}`;

async function draft(repo: string, pkg: string, ws: string, extra: Record<string, unknown> = {}): Promise<string> {
  const n = name(repo, pkg, ws);
  const r = await admin.request('POST', PR, {
    body: {
      apiVersion: 'pkg.pkgserver.dev/v1alpha1',
      kind: 'PackageRevision',
      metadata: { name: n },
      spec: { packageRevID: { target: 'c1', repository: repo, realm: 'apps', package: pkg, workspace: ws }, tasks: [{ type: 'init' }], ...extra },
    },
  });
  if (r.status !== 201) throw new Error(`create ${n}: ${r.status} ${JSON.stringify(r.body)}`);
  return n;
}

const lifecycle = (c: HttpClient, n: string, to: string, sub = '') =>
  c.request('PATCH', `${PR}/${n}${sub}`, { body: { spec: { lifecycle: to } }, contentType: 'application/merge-patch+json' });

test.serial('the approval subresource publishes a proposed revision and changes nothing but the lifecycle', async (t) => {
  const n = await draft('deploy', 'web', 'ws1');
  t.is((await lifecycle(admin, n, 'proposed')).status, 200);
  const got = await admin.request('GET', `${PR}/${n}/approval`);
  t.is(got.status, 200);
  t.is(got.body.spec.lifecycle, 'proposed');
  // other fields in an approval write are ignored
  const r = await admin.request('PATCH', `${PR}/${n}/approval`, { body: { metadata: { labels: { sneaky: 'yes' } }, spec: { lifecycle: 'published', updatePolicy: 'strict' } }, contentType: 'application/merge-patch+json' });
  t.is(r.status, 200, JSON.stringify(r.body));
  t.is(r.body.spec.lifecycle, 'published');
  t.is(r.body.spec.packageRevID.revision, 'v1');
  t.is(r.body.spec.updatePolicy, 'loose');
  t.is(r.body.metadata.labels?.sneaky, undefined);
  t.is(r.body.status.git.tag, 'c1/apps/web/v1');
  t.is(r.body.status.publishedBy, 'admin');
  // draft → published through the approval subresource is refused like on the main resource
  const n2 = await draft('deploy', 'web', 'ws2');
  const refused = await lifecycle(admin, n2, 'published', '/approval');
  t.is(refused.status, 422);
  t.regex(refused.body.message, /spec\.lifecycle: Forbidden: cannot change the lifecycle from draft to published: propose first/);
});

test.serial('kubectl 1.33 approves with --subresource=approval', async (t) => {
  const n = await draft('deploy', 'api', 'ws1');
  t.is((await lifecycle(admin, n, 'proposed')).status, 200);
  const k = new Kubectl('1.33', server.kubeconfig);
  t.regex(await k.ok(['patch', 'pkgrev', n, '-n', NS, '--subresource=approval', '--type=merge', '-p', '{"spec":{"lifecycle":"published"}}']), /patched/);
  t.is(await k.ok(['get', 'pkgrev', n, '-n', NS, '-o', 'jsonpath={.spec.lifecycle} {.spec.packageRevID.revision}']), 'published v1');
});

test.serial('readiness gates block publishing until their conditions are True (the approve gate excepted)', async (t) => {
  const n = await draft('deploy', 'db', 'ws1', { readinessGates: [{ conditionType: 'example.com/tested' }, { conditionType: 'pkg.pkgserver.dev/approve' }] });
  t.is((await lifecycle(admin, n, 'proposed')).status, 200);
  const refused = await lifecycle(admin, n, 'published');
  t.is(refused.status, 422);
  t.regex(refused.body.message, /cannot publish while readiness gates are not True: condition "example\.com\/tested" is not set/);
  t.notRegex(refused.body.message, /pkg\.pkgserver\.dev\/approve/);
  t.is((await admin.request('GET', `${PR}/${n}`)).body.spec.lifecycle, 'proposed', 'nothing changed');
  const cur = (await admin.request('GET', `${PR}/${n}`)).body;
  const conditions = [...(cur.status.conditions ?? []), { type: 'example.com/tested', status: 'True', reason: 'Passed', message: 'ok', lastTransitionTime: '2026-11-21T00:00:00Z' }];
  t.is((await admin.request('PATCH', `${PR}/${n}/status`, { body: { status: { conditions } }, contentType: 'application/merge-patch+json' })).status, 200);
  const ok = await lifecycle(admin, n, 'published');
  t.is(ok.status, 200, JSON.stringify(ok.body));
  t.is(ok.body.spec.packageRevID.revision, 'v1');
});

test.serial('a repository requiring a distinct approver refuses self-approval and takes another user', async (t) => {
  const n = await draft('strict', 'svc', 'ws1');
  const proposed = await lifecycle(admin, n, 'proposed');
  t.is(proposed.body.metadata.annotations['pkg.pkgserver.dev/proposed-by'], 'admin');
  const self = await lifecycle(admin, n, 'published');
  t.is(self.status, 422);
  t.regex(self.body.message, /requires a distinct approver: user "admin" proposed this revision/);
  // the proposer annotation is the server's: a client cannot overwrite it
  await admin.request('PATCH', `${PR}/${n}`, { body: { metadata: { annotations: { 'pkg.pkgserver.dev/proposed-by': 'someone-else' } } }, contentType: 'application/merge-patch+json' });
  t.is((await admin.request('GET', `${PR}/${n}`)).body.metadata.annotations['pkg.pkgserver.dev/proposed-by'], 'admin');
  const other = await lifecycle(bob, n, 'published');
  t.is(other.status, 200, JSON.stringify(other.body));
  t.is(other.body.status.publishedBy, 'bob');
  // bob's kubectl sees it too
  t.is(await new Kubectl('1.33', bobKubeconfig).ok(['get', 'pkgrev', n, '-n', NS, '-o', 'jsonpath={.status.publishedBy}']), 'bob');
});

test.serial('deleting a revision used as an upstream (PackageRevision or PackageVariant) is refused', async (t) => {
  // a catalog revision and a deployment draft cloned from it
  const catalog = await bareRepo('cat');
  const wc = tempDir('cat-wc-');
  await git(wc, 'clone', '-q', catalog, '.');
  mkdirSync(path.join(wc, 'base'));
  writeFileSync(path.join(wc, 'base', 'Kptfile'), 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: base\n');
  await git(wc, 'checkout', '-q', '-b', 'main');
  await git(wc, 'add', '.');
  await git(wc, 'commit', '-q', '-m', 'base package');
  await git(wc, 'tag', 'base/v1');
  await git(wc, 'push', '-q', 'origin', 'main', 'base/v1');
  t.is(
    (await admin.request('POST', `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/repositories`, { body: { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name: 'cat' }, spec: { git: { url: catalog } } } })).status,
    201,
  );
  const up = 'catalog.cat..base.v1';
  await poll('the catalog revision', async () => ((await admin.request('GET', `${PR}/${up}`)).status === 200 ? true : undefined));
  const clone = name('deploy', 'base', 'ws1');
  const created = await admin.request('POST', PR, {
    body: { apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', metadata: { name: clone }, spec: { packageRevID: { target: 'c1', repository: 'deploy', realm: 'apps', package: 'base', workspace: 'ws1' }, tasks: [{ type: 'clone' }], upstream: { repository: 'cat', package: 'base', revision: 'v1' } } },
  });
  t.is(created.status, 201, JSON.stringify(created.body));
  t.is((await lifecycle(admin, up, 'deletionProposed')).status, 200);
  const refused = await admin.request('DELETE', `${PR}/${up}`);
  t.is(refused.status, 409);
  t.regex(refused.body.message, new RegExp(`still used as an upstream by PackageRevision ${clone.replace(/\./g, '\\.')}`));
  // the same for a PackageVariant pointing at it
  t.is((await admin.request('DELETE', `${PR}/${clone}`)).status, 200);
  const pv = await admin.request('POST', `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagevariants`, {
    body: { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'PackageVariant', metadata: { name: 'base' }, spec: { upstream: { repository: 'cat', package: 'base', revision: 'v1' }, downstream: { target: 'c1', repository: 'deploy', package: 'base' } } },
  });
  t.is(pv.status, 201);
  const refused2 = await admin.request('DELETE', `${PR}/${up}`);
  t.is(refused2.status, 409);
  // the variant's controller may have made its downstream draft (a clone of the revision) by now
  t.regex(refused2.body.message, /still used as an upstream by (PackageRevision c1\.deploy\.\.base\.pv-[0-9a-f]+, )?PackageVariant base$/);
  t.is((await admin.request('DELETE', `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagevariants/base`)).status, 200);
  // the variant's controller deletes its downstream draft, then the variant goes
  await poll('the variant gone', async () => ((await admin.request('GET', `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagevariants/base`)).status === 404 ? true : undefined));
  t.is((await admin.request('DELETE', `${PR}/${up}`)).status, 200, 'unused: deleted');
  t.is((await git(catalog, 'tag', '-l')).trim(), '', 'its tag is gone');
});
