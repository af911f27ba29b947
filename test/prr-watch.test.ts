// PackageRevisionResources watches do no work for clients that left, and share their git reads
// (issue 8, "No work after the client leaves"), against the real server process and a local bare
// repository:
//
// * 300 drafts, 50 PRR watches opened (each gets 300 initial events to read) and closed right
//   after their headers: over the next second the server uses less than 300 ms of CPU (the
//   machine is shared, so the bound is generous; before the fix it kept reading git for every
//   queued event of the departed clients, at full CPU for a minute).
// * A change seen by 50 open PRR watchers reads each file from git once, not 50 times
//   (pkgserver_git_file_reads_total on /metrics).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { git } from './helpers/gitserver.ts';
import { HttpClient, type WatchStream } from './helpers/http.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';

const NS = 'prrw';
const PKG = 'pkg.pkgserver.dev/v1alpha1';
const PR = `/apis/${PKG}/namespaces/${NS}/packagerevisions`;
const PRR = `/apis/${PKG}/namespaces/${NS}/packagerevisionresources`;
const MERGE = 'application/merge-patch+json';
const REVISIONS = 300;
const WATCHERS = 50;
/** CPU the server may use in the second after the last watch closed (ms) */
const IDLE_CPU_MS = 300;

let server: ServerHandle;
let admin: HttpClient;

test.before(async () => {
  server = await startServer();
  admin = new HttpClient(server.url, adminTLS(server));
  const dir = tempDir('prr-watch-');
  const bare = path.join(dir, 'deploy.git');
  await git(dir, 'init', '-q', '--bare', '-b', 'main', bare);
  const r = await admin.post(`/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/repositories`, {
    apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
    kind: 'Repository',
    metadata: { name: 'deploy' },
    spec: { deployment: true, git: { url: bare } },
  });
  if (r.status !== 201) throw new Error(`create Repository: ${r.status} ${JSON.stringify(r.body)}`);
});

test.after.always(async () => {
  await server?.stop();
});

const prName = (pkg: string) => `c1.deploy..${pkg}.ws1`;

async function draft(pkg: string): Promise<void> {
  const r = await admin.post(PR, {
    apiVersion: PKG,
    kind: 'PackageRevision',
    metadata: { name: prName(pkg) },
    spec: { packageRevID: { target: 'c1', repository: 'deploy', realm: '', package: pkg, workspace: 'ws1' }, tasks: [{ type: 'init' }] },
  });
  if (r.status !== 201) throw new Error(`create ${pkg}: ${r.status} ${JSON.stringify(r.body)}`);
}

const clockTick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU time (user + system) the server process has used, in ms (/proc/<pid>/stat fields 14 and 15). */
function serverCpuMs(): number {
  const stat = readFileSync(`/proc/${server.proc.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number); // fields[0] is field 3
  return ((fields[11] + fields[12]) * 1000) / clockTick;
}

async function fileReads(): Promise<number> {
  const r = await admin.get('/metrics');
  const m = /^pkgserver_git_file_reads_total (\d+)$/m.exec(String(r.body));
  if (r.status !== 200 || !m) throw new Error(`no pkgserver_git_file_reads_total on /metrics (HTTP ${r.status})`);
  return Number(m[1]);
}

test.serial('50 PRR watches closed right after their headers leave the server idle within a second', async (t) => {
  t.timeout(600_000);
  // 300 drafts, six requests at a time (the repository lock makes the git work one at a time)
  let next = 0;
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      for (let i = next++; i < REVISIONS; i = next++) await draft(`p${String(i).padStart(3, '0')}`);
    }),
  );
  t.is((await admin.get(PR)).body.items.length, REVISIONS);

  // each watch starts with 300 initial events whose files are read from git; the client leaves at once
  await Promise.all(
    Array.from({ length: WATCHERS }, async () => {
      const w = await admin.stream(`${PRR}?watch=true`);
      if (w.status !== 200) throw new Error(`watch: HTTP ${w.status}`);
      w.close();
    }),
  );
  const cpu0 = serverCpuMs();
  const t0 = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 1000)); // the measurement window, not a wait for a condition
  const used = serverCpuMs() - cpu0;
  const window = Date.now() - t0;
  t.log(`server CPU in the ${window} ms after the last close: ${used} ms`);
  t.true(used < IDLE_CPU_MS, `the server used ${used} ms of CPU in the ${window} ms after the last watch closed`);

  // and it still answers
  t.is((await admin.get(`${PRR}/${prName('p000')}`)).status, 200);
});

test.serial('a change seen by 50 PRR watchers reads each file from git once', async (t) => {
  t.timeout(300_000);
  // a fresh draft: nothing has read its commit yet
  await draft('shared');
  const rv = (await admin.get(`${PR}?limit=1`)).body.metadata.resourceVersion;
  const watches: WatchStream[] = await Promise.all(Array.from({ length: WATCHERS }, () => admin.stream(`${PRR}?watch=true&resourceVersion=${rv}`)));
  t.teardown(() => watches.forEach((w) => w.close()));
  t.deepEqual(new Set(watches.map((w) => w.status)), new Set([200]));

  /** Waits until every watcher has seen the write that answered resourceVersion `rv`; the files they got (all the same). */
  const seenBy50 = async (rv: string): Promise<string[]> => {
    const files = await Promise.all(
      watches.map(async (w) => {
        const seen = await w.until((e) => e.type === 'MODIFIED' && e.object.metadata.name === prName('shared') && e.object.metadata.resourceVersion === rv, 60_000);
        return Object.keys(seen[seen.length - 1].object.spec.resources).sort();
      }),
    );
    t.is(new Set(files.map((f) => f.join(','))).size, 1);
    return files[0];
  };

  // propose: the commit does not change, the 50 watchers read its files once
  const before = await fileReads();
  const proposed = await admin.patch(`${PR}/${prName('shared')}`, { spec: { lifecycle: 'proposed' } }, MERGE);
  t.is(proposed.status, 200, JSON.stringify(proposed.body));
  const files = await seenBy50(proposed.body.metadata.resourceVersion);
  t.deepEqual(files, ['Kptfile', 'kustomization.yaml']);
  t.is((await fileReads()) - before, files.length);

  // publish: one commit on main; the publish reads the draft's files once to write it, and the 50
  // watchers read the new commit once between them
  const before2 = await fileReads();
  const published = await admin.patch(`${PR}/${prName('shared')}`, { spec: { lifecycle: 'published' } }, MERGE);
  t.is(published.status, 200, JSON.stringify(published.body));
  t.deepEqual(await seenBy50(published.body.metadata.resourceVersion), files);
  t.is((await fileReads()) - before2, 2 * files.length);

  // reading it again reads nothing from git
  const before3 = await fileReads();
  const got = await admin.get(`${PRR}/${prName('shared')}`);
  t.deepEqual(Object.keys(got.body.spec.resources).sort(), files);
  t.is(await fileReads(), before3);
});
