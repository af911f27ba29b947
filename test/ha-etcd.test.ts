// Three replicas on one etcd and one git remote (issue 12): three server processes, each with its
// own data directory, `--storage-backend=etcd3 --leader-elect true`, one etcd started by the test
// and one smart-HTTP git server. kubectl against each replica sees every write made through the
// others at once (consistent reads from the watch cache); a watch on replica A sees publishes made
// on B and C; 60 concurrent publishes of one package spread over the replicas give 60 tags
// v1..v60, 60 commits on main, no revision number twice; 20 concurrent creates of Repositories
// with the same url+ref+directory spread over the replicas give exactly one success; one replica
// at a time runs the controllers (leader_election_master_status counted on each), and when the
// leader is killed with SIGKILL another takes over within the lease duration.
import test from 'ava';
import { startEtcd, type EtcdHandle } from './helpers/etcd.ts';
import { git, startGitServer, type GitServer } from './helpers/gitserver.ts';
import { leads, sampleLeaders, startReplicas } from './helpers/ha.ts';
import { collect, type Kubectl } from './helpers/kubectl.ts';
import { poll } from './helpers/poll.ts';
import { type ServerHandle } from './helpers/server.ts';

const NS = 'ha';
const PR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisions`;
const REPOS = `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/repositories`;
const LEASE_SECONDS = 6;

let etcd: EtcdHandle;
let gitServer: GitServer;
const servers: ServerHandle[] = [];
const watchers: ReturnType<Kubectl['spawn']>[] = [];

test.before(async () => {
  [etcd, gitServer] = await Promise.all([startEtcd(), startGitServer()]);
});
test.after.always(async () => {
  for (const w of watchers) w.kill();
  await Promise.all(servers.map((s) => s.kill()));
  await gitServer?.stop();
  await etcd?.stop();
});

test('three replicas on one etcd: cross-replica reads, watches, publishes, uniqueness and leadership', async (t) => {
  t.timeout(600_000);
  const deployGit = await gitServer.createBareRepo('deploy', { initialFiles: { 'README.md': 'deployments\n' }, branch: 'main' });
  await gitServer.createBareRepo('dup', { initialFiles: { 'README.md': 'dup\n' }, branch: 'main' });
  const replicas = await startReplicas(3, { etcdEndpoint: etcd.endpoint, prefix: `/pkgserver-ha-${process.pid}/`, leaseSeconds: LEASE_SECONDS });
  servers.push(...replicas.servers);
  const { http, kubectl: k } = replicas;

  // --- one leader among three (counted on each replica's /metrics), sampled all along until the leader is killed
  const leaders = sampleLeaders(http);
  const countLeaders = leaders.now;
  const leaderCounts = leaders.counts;
  await poll('one replica leads', async () => ((await countLeaders()).n === 1 ? true : undefined), 60_000);
  const elected = leaderCounts.length - 1; // samples before an election may count none

  // --- kubectl on each replica sees the others' writes at once (consistent reads, no polling)
  await k[0].ok(['create', 'namespace', NS]);
  t.regex(await k[2].ok(['get', 'namespace', NS, '-o', 'name']), /^namespace\/ha$/m, 'a namespace created on A is read on C at once');
  await k[1].ok(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name: 'deploy', namespace: NS }, spec: { deployment: true, git: { url: gitServer.url('deploy'), credentials: 'gitcreds' }, sync: { period: '1h' } } }),
  });
  t.is(await k[2].ok(['get', 'repository', 'deploy', '-n', NS, '-o', 'jsonpath={.spec.git.url}']), gitServer.url('deploy'), 'a Repository created on B is read on C at once');
  t.is(await k[0].ok(['get', 'repository', 'deploy', '-n', NS, '-o', 'jsonpath={.metadata.name}']), 'deploy');
  await poll('the Repository is Ready (the leader synced it)', async () => {
    const r = await k[0].run(['get', 'repository', 'deploy', '-n', NS, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
    return r.stdout.trim() === 'True' ? true : undefined;
  }, 60_000);

  // --- 20 concurrent creates of Repositories with the same url+ref+directory: one succeeds
  const dupStatuses = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      http[i % 3].request('POST', REPOS, {
        body: { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name: `dup-${i}` }, spec: { git: { url: gitServer.url('dup'), credentials: 'gitcreds' }, sync: { period: '1h' } } },
      }),
    ),
  );
  const codes = dupStatuses.map((r) => r.status);
  t.is(codes.filter((c) => c === 201).length, 1, `statuses: ${codes.join(' ')}`);
  t.is(codes.filter((c) => c === 422).length, 19, `statuses: ${codes.join(' ')}`);
  for (const r of dupStatuses) if (r.status === 422) t.regex(JSON.stringify(r.body), /spec\.git\.url: Duplicate value/);
  const repoNames = await k[2].ok(['get', 'repositories', '-n', NS, '-o', 'name']);
  t.is(repoNames.split('\n').filter((l) => l.includes('/dup-')).length, 1, repoNames);

  // --- a watch on replica A, from here on
  const watchProc = k[0].spawn(['get', 'packagerevisions', '-n', NS, '-w', '--output-watch-events']);
  watchers.push(watchProc);
  const watch = collect(watchProc);
  await poll('the watch on A is open', async () => (watch.text.length > 0 || watchProc.exitCode === null ? true : undefined));

  // --- 60 drafts of one package, spread over the replicas, all at once; then propose; then publish
  const N = 60;
  const names = Array.from({ length: N }, (_, i) => `c1.deploy.apps.app.ws${i}`);
  const expectStatus = async (what: string, rs: Promise<{ status: number; body: unknown }>[], want: number) => {
    const got = await Promise.all(rs);
    const bad = got.map((r, i) => ({ i, status: r.status, body: r.body })).filter((r) => r.status !== want);
    t.deepEqual(bad, [], `${what}: every request answered ${want}`);
  };
  await expectStatus(
    'create 60 drafts',
    names.map((name, i) =>
      http[i % 3].request('POST', PR, {
        body: { apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', metadata: { name }, spec: { packageRevID: { target: 'c1', repository: 'deploy', realm: 'apps', package: 'app', workspace: `ws${i}` }, tasks: [{ type: 'init' }] } },
      }),
    ),
    201,
  );
  const patch = (i: number, lifecycle: string) =>
    http[(i + 1) % 3].request('PATCH', `${PR}/${names[i]}`, { body: { spec: { lifecycle } }, contentType: 'application/merge-patch+json' });
  await expectStatus('propose 60 drafts', names.map((_, i) => patch(i, 'proposed')), 200);
  const leaderBefore = await countLeaders();
  t.is(leaderBefore.n, 1);
  await expectStatus('publish 60 revisions', names.map((_, i) => patch(i, 'published')), 200);

  // every replica lists the 60 as published, with 60 distinct revisions v1..v60 (consistent reads: no polling)
  for (const [i, h] of http.entries()) {
    const list = (await h.request('GET', `${PR}?labelSelector=`)).body as { items: { metadata: { name: string }; spec: { lifecycle: string; packageRevID: { revision?: string } } }[] };
    const mine = list.items.filter((o) => names.includes(o.metadata.name));
    t.is(mine.length, N, `replica ${i} lists them all`);
    t.true(mine.every((o) => o.spec.lifecycle === 'published'), `replica ${i}: all published`);
    const revs = mine.map((o) => o.spec.packageRevID.revision!).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
    t.deepEqual(revs, Array.from({ length: N }, (_, j) => `v${j + 1}`), `replica ${i}: v1..v${N}, none twice`);
  }

  // the git remote: 60 tags, 60 publish commits on main (one per revision, none lost), no draft or proposed branch left
  const refs = (await git(deployGit, 'for-each-ref', '--format=%(refname) %(objectname)')).trim().split('\n');
  const tags = refs.filter((r) => r.startsWith('refs/tags/c1/apps/app/'));
  t.is(tags.length, N, refs.join('\n'));
  t.deepEqual(
    tags.map((r) => r.split(' ')[0].split('/').pop()!).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))),
    Array.from({ length: N }, (_, j) => `v${j + 1}`),
  );
  t.deepEqual(refs.filter((r) => r.startsWith('refs/heads/') && !r.startsWith('refs/heads/main ')), [], 'no draft or proposed branch left');
  const log = (await git(deployGit, 'log', '--format=%H %s', 'main')).trim().split('\n');
  const publishCommits = log.filter((l) => / Publish /.test(` ${l.split(' ').slice(1).join(' ')}`));
  t.is(publishCommits.length, N, log.slice(0, 5).join('\n'));
  const tagged = new Set(tags.map((r) => r.split(' ')[1]));
  for (const tag of tagged) t.is((await git(deployGit, 'merge-base', '--is-ancestor', tag, 'main').then(() => 'yes', () => 'no')), 'yes', `tag commit ${tag} is on main`);
  t.is(tagged.size, N, 'each tag its own commit');

  // the watch on A saw every publish, including those made through B and C
  await poll('the watch on A shows the 60 publishes', async () => {
    const published = new Set<string>();
    for (const line of watch.text.split('\n')) {
      const m = /^MODIFIED\s+(\S+)\s.*\spublished\s/.exec(line);
      if (m) published.add(m[1]);
    }
    return names.every((n) => published.has(n)) ? true : undefined;
  }, 60_000);

  // --- package files written through one replica are read through another at once (its clone
  // fetches the commit it does not have yet, never an empty package)
  const PRR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisionresources`;
  const filesDraft = 'c1.deploy.apps.files.ws0';
  const made = await http[0].request('POST', PR, {
    body: { apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', metadata: { name: filesDraft }, spec: { packageRevID: { target: 'c1', repository: 'deploy', realm: 'apps', package: 'files', workspace: 'ws0' }, tasks: [{ type: 'init' }] } },
  });
  t.is(made.status, 201, JSON.stringify(made.body));
  const prr = (await http[0].request('GET', `${PRR}/${filesDraft}`)).body as { spec: { resources: Record<string, string> } };
  prr.spec.resources['cm.yaml'] = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: written-on-a\n';
  const put = await http[0].request('PUT', `${PRR}/${filesDraft}`, { body: prr });
  t.is(put.status, 200, JSON.stringify(put.body));
  const written = (put.body as typeof prr).spec.resources;
  t.regex(written['cm.yaml'], /written-on-a/);
  for (const i of [1, 2]) {
    const read = await http[i].request('GET', `${PRR}/${filesDraft}`);
    t.is(read.status, 200, JSON.stringify(read.body));
    t.deepEqual((read.body as typeof prr).spec.resources, written, `replica ${i} reads the files written on A`);
  }

  // one leader throughout (sampled)
  await leaders.stop();
  t.true(leaderCounts.slice(elected).every((n) => n === 1), `leaders counted: ${leaderCounts.join(' ')}`);
  t.true(leaderCounts.length - elected > 10, `sampled ${leaderCounts.length - elected} times`);

  // --- kill -9 of the leader: another takes over within the lease duration (plus its retry period)
  const { leader } = await countLeaders();
  t.true(leader >= 0);
  const killedAt = Date.now();
  await servers[leader].kill();
  const others = http.filter((_, i) => i !== leader);
  await poll('another replica leads', async () => ((await Promise.all(others.map(leads))).filter((s) => s === 1).length === 1 ? true : undefined), 60_000, 100);
  const tookOver = Date.now() - killedAt;
  t.true(tookOver <= (LEASE_SECONDS + 3) * 1000, `took over after ${tookOver} ms (lease ${LEASE_SECONDS} s)`);
  // the survivors still serve, and see each other's writes
  const alive = [0, 1, 2].filter((i) => i !== leader);
  await k[alive[0]].ok(['label', 'repository', 'deploy', '-n', NS, 'after=failover']);
  t.is(await k[alive[1]].ok(['get', 'repository', 'deploy', '-n', NS, '-o', 'jsonpath={.metadata.labels.after}']), 'failover');
});
