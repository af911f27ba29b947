// 50 PackageVariants created at once give exactly 50 downstream drafts, one per variant, even
// when the server is killed (kill -9) at arbitrary points while they are being reconciled and
// restarted on the same data directory: nothing lost, nothing made twice (in the store and in git).
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { git } from './helpers/gitserver.ts';
import { HttpClient } from './helpers/http.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';

const NS = 'many';
const PR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisions`;
const PV = `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagevariants`;
const REPOS = `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/repositories`;
const N = 50;

let server: ServerHandle | undefined;
test.after.always(async () => {
  await server?.stop();
});

test('50 variants at once, kill -9 twice while they are reconciled: exactly one draft per variant in the store and in git', async (t) => {
  const dir = tempDir('pv-many-');
  for (const name of ['cat', 'deploy']) await git(dir, 'init', '-q', '--bare', '-b', 'main', `${name}.git`);
  const wc = path.join(dir, 'wc');
  await git(dir, 'clone', '-q', path.join(dir, 'cat.git'), wc);
  await git(wc, 'checkout', '-q', '-b', 'main');
  mkdirSync(path.join(wc, 'app'));
  writeFileSync(path.join(wc, 'app', 'Kptfile'), 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\n');
  writeFileSync(path.join(wc, 'app', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata: {a: "1"}\n');
  await git(wc, 'add', '.');
  await git(wc, 'commit', '-q', '-m', 'app v1');
  await git(wc, 'tag', 'app/v1');
  await git(wc, 'push', '-q', 'origin', 'main', 'app/v1');

  const dataDir = tempDir('pv-many-data-');
  const start = async () => {
    server = await startServer({ dataDir, controllers: true });
    return new HttpClient(server.url, adminTLS(server));
  };
  let admin = await start();
  for (const [name, deployment] of [['cat', false], ['deploy', true]] as const) {
    const r = await admin.post(REPOS, { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name }, spec: { deployment, git: { url: path.join(dir, `${name}.git`) }, sync: { period: '2s' } } });
    t.is(r.status, 201, JSON.stringify(r.body));
  }
  await poll('the catalog revision', async () => ((await admin.get(`${PR}/catalog.cat..app.v1`)).status === 200 ? true : undefined));

  const created = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      admin.post(PV, {
        apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
        kind: 'PackageVariant',
        metadata: { name: `v${i}` },
        spec: { upstream: { repository: 'cat', package: 'app', revision: '*' }, downstream: { target: `t${i}`, repository: 'deploy', package: 'app' } },
      }),
    ),
  );
  t.deepEqual(created.map((r) => r.status), Array(N).fill(201));

  const drafts = async (c: HttpClient) => ((await c.get(`${PR}?fieldSelector=spec.packageRevID.repository=deploy`)).body.items ?? []) as any[];
  // kill -9 twice while the drafts are being made (some exist, not all), then restart
  for (const round of [1, 2]) {
    const target = round * 10;
    const seen = await poll(`at least ${target} drafts before kill ${round}`, async () => {
      const n = (await drafts(admin)).length;
      return n >= target ? n : undefined;
    }, 120_000, 20);
    await server!.kill();
    t.log(`kill ${round} with ${seen} of ${N} drafts made`);
    admin = await start();
  }

  // every variant ends with exactly one draft that it owns
  const pvs = (await admin.get(PV)).body.items as any[];
  t.is(pvs.length, N);
  const final = await poll(
    'one owned draft per variant',
    async () => {
      const all = await drafts(admin);
      const byOwner = new Map<string, number>();
      for (const pr of all) for (const r of pr.metadata.ownerReferences ?? []) byOwner.set(r.uid, (byOwner.get(r.uid) ?? 0) + 1);
      return all.length === N && pvs.every((pv) => byOwner.get(pv.metadata.uid) === 1) ? all : undefined;
    },
    180_000,
  );
  t.is(final.length, N);
  t.is(new Set(final.map((pr) => pr.spec.packageRevID.target)).size, N, 'one per target');
  t.true(final.every((pr) => pr.spec.lifecycle === 'draft' && /^pv-[0-9a-f]{16}$/.test(pr.spec.packageRevID.workspace)));
  // git agrees: one draft branch per variant, nothing else
  const branches = (await git(path.join(dir, 'deploy.git'), 'for-each-ref', '--format=%(refname)', 'refs/heads/drafts/')).trim().split('\n').filter(Boolean);
  t.is(branches.length, N);
  t.deepEqual(branches.sort(), final.map((pr) => `refs/heads/${pr.status.git.branch}`).sort());
});
