// The repository sync of a big repository (issue 10, item 3), through the real server with its
// controllers: 1,200 published revisions (tags made outside the server) in a local deployment
// repository (no catalog: discovery does not write their status meanwhile).
//
// * Every revision is stored, each with its own resourceVersion, written in pages of 500 (one
//   store transaction each): a watch from before the sync sees one ADDED event per revision, in
//   resourceVersion order.
// * The sync reports progress: the log says "synced N/1200 revisions", the Repository had the
//   Reconciling condition while it ran and has it no more when it is Ready.
// * A restart on the persisted store serves the same objects, and the sync after it writes none
//   of them again.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { HttpClient } from './helpers/http.ts';
import { managersOf, updatedBy } from './helpers/managedfields.ts';
import { afterSecondOf, poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';

const PKG = 'pkg.pkgserver.dev/v1alpha1';
const CFG = 'config.pkg.pkgserver.dev/v1alpha1';
const NS = 'big';
const PR = `/apis/${PKG}/namespaces/${NS}/packagerevisions`;
const REPOS = `/apis/${CFG}/namespaces/${NS}/repositories`;
const PACKAGES = 120;
const REVISIONS = 10;
const TOTAL = PACKAGES * REVISIONS;

let server: ServerHandle | undefined;
const dirs: string[] = [];
test.after.always(async () => {
  await server?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A deployment repository with PACKAGES × REVISIONS tags `c1/pN/vM`, one commit each, by git fast-import. */
function bigRepository(): string {
  const dir = tempDir('big-sync-');
  dirs.push(dir);
  const bare = path.join(dir, 'big.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  const lines: string[] = [];
  let mark = 0;
  const when = 1_700_000_000;
  for (let r = 1; r <= REVISIONS; r++)
    for (let p = 0; p < PACKAGES; p++) {
      const content = `apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p${p}\n# revision ${r}\n`;
      const msg = `p${p} v${r}\n`;
      mark++;
      lines.push('commit refs/heads/main', `mark :${mark}`, `author Someone <someone@example.com> ${when + mark} +0000`, `committer Someone <someone@example.com> ${when + mark} +0000`);
      lines.push(`data ${Buffer.byteLength(msg)}`, msg.slice(0, -1), `M 100644 inline c1/p${p}/Kptfile`, `data ${Buffer.byteLength(content)}`, content.slice(0, -1), '');
      lines.push(`reset refs/tags/c1/p${p}/v${r}`, `from :${mark}`, '');
    }
  execFileSync('git', ['fast-import', '--quiet'], { cwd: bare, input: lines.join('\n') + '\n' });
  return bare;
}

test('a repository of 1,200 revisions: stored in pages with a resourceVersion and an event each, progress reported, nothing written again after a restart', async (t) => {
  const bare = bigRepository();
  server = await startServer({ controllers: true });
  dirs.push(server.dataDir);
  const admin = new HttpClient(server.url, adminTLS(server));

  // a watch from before the sync: one ADDED event per revision, in resourceVersion order
  const start = (await admin.get(PR)).body.metadata.resourceVersion as string;
  const prWatch = await admin.stream(`${PR}?watch=1&resourceVersion=${start}&timeoutSeconds=300`);
  t.teardown(() => prWatch.close());
  const events = () =>
    prWatch.lines.map((l) => {
      const ev = JSON.parse(l) as { type: string; object: { metadata: { name: string; resourceVersion: string } } };
      return { type: ev.type, name: ev.object.metadata.name, rv: Number(ev.object.metadata.resourceVersion) };
    });
  // the Repository's conditions as a watch of it sees them while the sync runs
  const repoWatch = await admin.stream(`${REPOS}?watch=1&timeoutSeconds=300`);
  t.teardown(() => repoWatch.close());
  const reconciling = () => {
    const seen = new Set<string>();
    for (const l of repoWatch.lines)
      for (const c of (JSON.parse(l) as { object: { status?: { conditions?: { type: string; reason: string; message: string }[] } } }).object.status?.conditions ?? [])
        if (c.type === 'Reconciling') seen.add(`${c.reason}: ${c.message}`);
    return seen;
  };

  const created = await admin.post(REPOS, { apiVersion: CFG, kind: 'Repository', metadata: { name: 'big' }, spec: { deployment: true, git: { url: bare }, sync: { period: '1h' } } });
  t.is(created.status, 201, JSON.stringify(created.body));
  const ready = await poll(
    'Repository big Ready',
    async () => {
      const r = (await admin.get(`${REPOS}/big`)).body;
      return r.status?.conditions?.find((c: { type: string }) => c.type === 'Ready')?.status === 'True' ? r : undefined;
    },
    120_000,
  );
  t.is(ready.status.revisionCount, TOTAL);
  t.is(ready.status.packageCount, PACKAGES);
  t.falsy(ready.status.conditions.find((c: { type: string }) => c.type === 'Reconciling'), 'no work in progress once Ready');

  const list = (await admin.get(PR)).body.items as { metadata: { name: string; resourceVersion: string; labels?: Record<string, string> }; status: { git: { tag: string } } }[];
  t.is(list.length, TOTAL);
  t.is(new Set(list.map((o) => o.metadata.resourceVersion)).size, TOTAL, 'a resourceVersion per object');
  t.is(list.filter((o) => o.metadata.labels?.['pkg.pkgserver.dev/latest-revision'] === 'true').length, PACKAGES);
  // the sync's writes carry the repository controller's manager: the status it wrote, the revisions it stored
  t.truthy(updatedBy(ready, 'pkgserver-repository-controller', 'status')?.fieldsV1?.['f:status']?.['f:revisionCount'], managersOf(ready).join(', '));
  for (const o of [list[0], list[TOTAL - 1]] as any[]) t.truthy(updatedBy(o, 'pkgserver-repository-controller')?.fieldsV1?.['f:spec'], managersOf(o).join(', '));

  // (other controllers, discovery, may write the revisions' status meanwhile: MODIFIED events)
  const added = () => events().filter((e) => e.type === 'ADDED');
  const evs = await poll('every ADDED event', async () => (added().length >= TOTAL ? added() : undefined));
  t.is(evs.length, TOTAL);
  t.deepEqual(evs.map((e) => e.name).sort(), list.map((o) => o.metadata.name).sort());
  t.true(evs.every((e, i) => i === 0 || e.rv > evs[i - 1].rv), 'events in resourceVersion order');

  // progress: in the log and in the Repository status while it ran
  const progress = server.logs.filter((l) => /synced \d+\/1200 revisions/.test(l));
  t.true(progress.some((l) => l.includes('synced 0/1200 revisions')), progress.join('\n'));
  t.true(progress.some((l) => l.includes('synced 1200/1200 revisions')), progress.join('\n'));
  t.true(server.logs.some((l) => l.includes('fetching') && l.includes('for the first sync')));
  const seen = [...reconciling()];
  t.true(seen.some((c) => /^Syncing: synced \d+\/1200 revisions$/.test(c)), seen.join('\n'));
  t.true(seen.some((c) => c.startsWith('Fetching: ')), seen.join('\n'));

  // a restart on the persisted store: the same objects at once, and the sync writes none again
  // (the restart's sync is seen as a new lastSyncTime, to the second: it must not fall in the first sync's second)
  const lastSync = ready.status.lastSyncTime;
  await afterSecondOf(lastSync);
  await server.stop();
  server = await startServer({ controllers: true, dataDir: server.dataDir });
  const again = new HttpClient(server.url, adminTLS(server));
  const before = new Map(list.map((o) => [o.metadata.name, o.metadata.resourceVersion]));
  const relisted = (await again.get(PR)).body.items as { metadata: { name: string; resourceVersion: string } }[];
  t.deepEqual(new Map(relisted.map((o) => [o.metadata.name, o.metadata.resourceVersion])), before);
  await poll(
    'a sync after the restart',
    async () => {
      const r = (await again.get(`${REPOS}/big`)).body;
      return r.status?.lastSyncTime !== lastSync || undefined;
    },
    60_000,
  );
  const after = (await again.get(PR)).body.items as { metadata: { name: string; resourceVersion: string } }[];
  t.deepEqual(new Map(after.map((o) => [o.metadata.name, o.metadata.resourceVersion])), before);
});
