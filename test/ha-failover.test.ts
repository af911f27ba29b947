// kill -9 of the leader during PackageVariant reconciles and publishes (issue 12): three replicas
// with controllers on one etcd, a catalog and a deployment repository in git. Thirty
// PackageVariants are created across the replicas; as soon as the leader has made the first
// downstream draft, twelve proposed revisions are published and nine more variants created across
// the replicas, and the leader is killed with SIGKILL. Another replica takes over within the lease
// duration; the requests the dead replica did not answer are retried on a survivor (a publish is
// done once, a create made already is AlreadyExists); every PackageVariant ends with exactly one
// downstream draft (in the API and in git), no write a client was answered for is lost (every
// acknowledged variant exists, every publish has its revision and its tag, no revision number
// twice), and no two replicas lead at once.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startEtcd, type EtcdHandle } from './helpers/etcd.ts';
import { git, localCatalogAndDeploy } from './helpers/gitserver.ts';
import { leads, sampleLeaders, startReplicas, type Replicas } from './helpers/ha.ts';
import { poll } from './helpers/poll.ts';
import { tempDir } from './helpers/server.ts';

const NS = 'failover';
const PR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisions`;
const PV = `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagevariants`;
const LEASE_SECONDS = 6;
const VARIANTS = 30;
/** created across the replicas at the moment the leader is killed */
const LATE_VARIANTS = 9;
const PUBLISHES = 12;
const MERGE = 'application/merge-patch+json';

let etcd: EtcdHandle;
let replicas: Replicas | undefined;

test.before(async () => {
  etcd = await startEtcd();
});
test.after.always(async () => {
  await Promise.all((replicas?.servers ?? []).map((s) => s.kill()));
  await etcd?.stop();
});

interface Obj {
  metadata: { name: string; uid: string; ownerReferences?: { uid: string; controller?: boolean }[]; annotations?: Record<string, string> };
  spec: { lifecycle: string; packageRevID: { repository: string; package: string; revision?: string } };
  status?: { conditions?: { type: string; status: string }[] };
}

/** The status of a request, or 0 when it got no answer (the replica died under it). */
const refusals: unknown[] = [];
const answered = (p: Promise<{ status: number; body: unknown }>): Promise<number> =>
  p.then(
    (r) => {
      if (r.status >= 400) refusals.push(r.body);
      return r.status;
    },
    () => 0,
  );

test('kill -9 of the leader during PackageVariant reconciles and publishes: one draft per variant, no acknowledged write lost', async (t) => {
  t.timeout(600_000);
  const site = await localCatalogAndDeploy(tempDir('pkgserver-failover-git-'));
  const deployGit = path.join(path.dirname(site.catalogWC), 'deploy.git');
  // the catalog's blueprint, published with the git CLI
  const pkgDir = path.join(site.catalogWC, 'web');
  mkdirSync(pkgDir, { recursive: true });
  writeFileSync(path.join(pkgDir, 'Kptfile'), 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: web\n');
  writeFileSync(path.join(pkgDir, 'configmap.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  color: blue\n');
  await git(site.catalogWC, 'add', '.');
  await git(site.catalogWC, 'commit', '-q', '-m', 'web v1');
  await git(site.catalogWC, 'tag', 'web/v1');
  await git(site.catalogWC, 'push', '-q', 'origin', 'main', 'web/v1');

  replicas = await startReplicas(3, { etcdEndpoint: etcd.endpoint, prefix: `/pkgserver-failover-${process.pid}/`, leaseSeconds: LEASE_SECONDS });
  const { servers, http, kubectl: k } = replicas;
  const leaders = sampleLeaders(http);
  await poll('one replica leads', async () => ((await leaders.now()).n === 1 ? true : undefined), 60_000);
  const electedAt = leaders.counts.length - 1;

  await k[0].ok(['create', 'namespace', NS]);
  await k[1].ok(['apply', '-n', NS, '-f', '-'], { input: site.repositories });
  await poll('the catalog revision web v1 is synced', async () => ((await http[2].get(`${PR}/catalog.cat..web.v1`)).status === 200 ? true : undefined), 120_000);
  await poll('the deployment repository is Ready', async () => {
    const r = await k[0].run(['get', 'repository', 'deploy', '-n', NS, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
    return r.stdout.trim() === 'True' ? true : undefined;
  }, 120_000);

  // twelve proposed revisions of one package, to be published around the kill
  const drafts = Array.from({ length: PUBLISHES }, (_, i) => `c1.deploy.apps.app.ws${i}`);
  for (const [i, name] of drafts.entries()) {
    const created = await http[i % 3].request('POST', PR, {
      body: { apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', metadata: { name }, spec: { packageRevID: { target: 'c1', repository: 'deploy', realm: 'apps', package: 'app', workspace: `ws${i}` }, tasks: [{ type: 'init' }] } },
    });
    t.is(created.status, 201, JSON.stringify(created.body));
    const proposed = await http[(i + 1) % 3].request('PATCH', `${PR}/${name}`, { body: { spec: { lifecycle: 'proposed' } }, contentType: MERGE });
    t.is(proposed.status, 200, JSON.stringify(proposed.body));
  }

  const { leader, n } = await leaders.now();
  t.is(n, 1);
  const survivors = [0, 1, 2].filter((i) => i !== leader);
  const reader = http[survivors[0]];

  // thirty variants, created across the three replicas at once
  const variantNames = Array.from({ length: VARIANTS + LATE_VARIANTS }, (_, i) => `site${i}`);
  const createVariant = (name: string, i: number) =>
    http[i % 3].request('POST', PV, {
      body: { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'PackageVariant', metadata: { name }, spec: { upstream: { repository: 'cat', package: 'web', revision: 'v1' }, downstream: { target: 'c1', repository: 'deploy', package: name } } },
    });
  const creates = variantNames.slice(0, VARIANTS).map((name, i) => answered(createVariant(name, i)));
  const downstreamDrafts = async () => ((await reader.get(PR)).body.items as Obj[]).filter((o) => o.spec.packageRevID.repository === 'deploy' && variantNames.includes(o.spec.packageRevID.package));
  await poll('the leader made its first downstream draft', async () => ((await downstreamDrafts()).length > 0 ? true : undefined), 120_000, 20).catch(async (e) => {
    const pvs = (await reader.get(PV)).body.items as Obj[];
    throw new Error(`${(e as Error).message}; variant creates ${(await Promise.all(creates)).join(' ')}; variants: ${JSON.stringify(pvs.slice(0, 3).map((pv) => pv.status))}; first refusal: ${JSON.stringify(refusals[0])}`);
  });

  // publishes across the three replicas, and the leader killed while they and the reconciles run
  const publish = (name: string, i: number) => http[i].request('PATCH', `${PR}/${name}`, { body: { spec: { lifecycle: 'published' } }, contentType: MERGE });
  const publishes = drafts.map((name, i) => answered(publish(name, i % 3)));
  const lateCreates = variantNames.slice(VARIANTS).map((name, i) => answered(createVariant(name, i)));
  const draftsAtKill = (await downstreamDrafts()).length;
  const killedAt = Date.now();
  await servers[leader].kill();
  await poll('another replica leads', async () => ((await Promise.all(survivors.map((i) => leads(http[i])))).filter((s) => s === 1).length === 1 ? true : undefined), 60_000, 100);
  const tookOver = Date.now() - killedAt;
  t.true(tookOver <= (LEASE_SECONDS + 3) * 1000, `took over after ${tookOver} ms (lease ${LEASE_SECONDS} s)`);
  t.true(draftsAtKill < VARIANTS, `killed during the reconciles: ${draftsAtKill} of ${VARIANTS} drafts made before`);

  const createStatus = [...(await Promise.all(creates)), ...(await Promise.all(lateCreates))];
  const publishStatus = await Promise.all(publishes);
  t.true(createStatus.every((s) => s === 201 || s === 0), `variant creates: ${createStatus.join(' ')}`);
  t.true(publishStatus.every((s) => s === 200 || s === 0), `publishes: ${publishStatus.join(' ')}`);
  // requests to the survivors were all answered
  t.true(createStatus.every((s, i) => i % 3 === leader || s === 201), `variant creates on the survivors: ${createStatus.join(' ')}`);
  t.true(publishStatus.every((s, i) => i % 3 === leader || s === 200), `publishes on the survivors: ${publishStatus.join(' ')}`);
  const acknowledgedVariants = variantNames.filter((_, i) => createStatus[i] === 201);
  const acknowledgedPublishes = drafts.filter((_, i) => publishStatus[i] === 200);
  // what the dead leader was asked and did not answer, its clients ask a survivor again (a retry
  // of a write that may have been done in part: the publish is done once, the create is
  // AlreadyExists when it was made)
  for (const [i, name] of variantNames.entries()) {
    if (createStatus[i] !== 0) continue;
    const again = await answered(createVariant(name, survivors[i % 2]));
    t.true(again === 201 || again === 409, `${name} created again: ${again} ${JSON.stringify(refusals.at(-1))}`);
  }
  for (const [i, name] of drafts.entries()) {
    if (publishStatus[i] !== 0) continue;
    const again = await publish(name, survivors[i % 2]);
    t.is(again.status, 200, `${name} published again: ${JSON.stringify(again.body)}`);
  }

  // every variant that exists ends with exactly one downstream draft, owned by it, and Ready
  const settled = await poll(
    'every variant has exactly one downstream draft and is Ready',
    async () => {
      const pvs = (await reader.get(PV)).body.items as Obj[];
      const prs = await downstreamDrafts();
      for (const pv of pvs) {
        const mine = prs.filter((pr) => pr.spec.packageRevID.package === pv.metadata.name);
        if (mine.length !== 1) return undefined;
        if (!(mine[0].metadata.ownerReferences ?? []).some((r) => r.uid === pv.metadata.uid && r.controller)) return undefined;
        if (pv.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') return undefined;
      }
      return { pvs, prs };
    },
    240_000,
    250,
  );
  const existing = settled.pvs.map((pv) => pv.metadata.name);
  for (const name of acknowledgedVariants) t.true(existing.includes(name), `the acknowledged variant ${name} exists`);
  t.is(settled.prs.length, settled.pvs.length, `one draft per variant: ${settled.prs.map((p) => p.metadata.name).join(' ')}`);
  t.true(settled.prs.every((p) => p.spec.lifecycle === 'draft'));
  // ... and the survivors agree
  const other = ((await http[survivors[1]].get(PR)).body.items as Obj[]).filter((o) => variantNames.includes(o.spec.packageRevID.package));
  t.deepEqual(other.map((o) => o.metadata.name).sort(), settled.prs.map((o) => o.metadata.name).sort());

  // in git: one draft branch per variant's package, no other branch for them
  const refs = (await git(deployGit, 'for-each-ref', '--format=%(refname)')).trim().split('\n');
  for (const name of existing) {
    const mine = refs.filter((r) => r.startsWith('refs/heads/') && r.split('/').includes(name));
    t.is(mine.length, 1, `${name}: ${mine.join(' ')}`);
  }

  // every acknowledged publish has its revision and its tag; no revision number twice
  const published = ((await reader.get(PR)).body.items as Obj[]).filter((o) => o.spec.packageRevID.package === 'app' && o.spec.lifecycle === 'published');
  for (const name of acknowledgedPublishes) t.true(published.some((o) => o.metadata.name === name), `the acknowledged publish of ${name} is kept`);
  t.is(published.length, PUBLISHES, `all published once retried: ${published.map((o) => o.metadata.name).join(' ')}`);
  const revisions = published.map((o) => o.spec.packageRevID.revision!);
  t.is(new Set(revisions).size, revisions.length, `revisions: ${revisions.join(' ')}`);
  const tags = refs.filter((r) => r.startsWith('refs/tags/c1/apps/app/')).map((r) => r.split('/').pop()!);
  for (const rev of revisions) t.true(tags.includes(rev), `tag of ${rev}: ${tags.join(' ')}`);
  t.is(tags.length, revisions.length, `tags: ${tags.join(' ')}`);

  // never two leaders
  await leaders.stop();
  t.true(leaders.counts.slice(electedAt).every((c) => c <= 1), `leaders counted: ${leaders.counts.join(' ')}`);
  t.log(`drafts made before the kill: ${draftsAtKill}/${VARIANTS}; takeover ${tookOver} ms; variant creates ${createStatus.join(' ')}; publishes ${publishStatus.join(' ')}`);
});
