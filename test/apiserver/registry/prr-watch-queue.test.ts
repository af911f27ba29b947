// The PackageRevisionResources watch queue, in process: a real Registry over SQLite holds
// PackageRevision-shaped objects, a real PackageEngine reads a real local bare repository, and the
// credentials the Repository names are looked up through a gate the test holds, so that a file
// read can be kept waiting while events queue up behind it.
//
// * Stopping a watch drops its queue: only the read already under way finishes, nothing is sent.
// * More than WATCH_QUEUE_LIMIT live events waiting end the watch (the sink is closed), as kube
//   ends a watcher whose buffer is full.
//
// Serial: the count of git file reads is the process's.
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Repository } from '../../../src/api/config.ts';
import { objectMetaSchema, type KObject } from '../../../src/api/meta.ts';
import { PKG_GROUP, PKG_VERSION } from '../../../src/api/pkg.ts';
import { anyObject, obj, str } from '../../../src/api/schema.ts';
import { Registry, type WatchSink } from '../../../src/apiserver/registry/generic.ts';
import { PackageRevisionResourcesStorage, WATCH_QUEUE_LIMIT } from '../../../src/apiserver/registry/packagerevisionresources.ts';
import type { RequestContext, ResourceDef } from '../../../src/apiserver/registry/types.ts';
import { PackageEngine } from '../../../src/engine/engine.ts';
import { gitFileReads, GitRepo } from '../../../src/storage/git/repo.ts';
import { Cacher, CacherSet } from '../../../src/storage/store/cacher.ts';
import { SqliteStore } from '../../../src/storage/store/sqlite.ts';
import { git } from '../../helpers/gitserver.ts';
import { poll } from '../../helpers/poll.ts';

const NS = 'ns';
const SYSTEM: RequestContext = { user: { name: 'system:test', groups: ['system:masters'] }, dryRun: false };

const def: ResourceDef = {
  group: PKG_GROUP,
  version: PKG_VERSION,
  kind: 'PackageRevision',
  listKind: 'PackageRevisionList',
  plural: 'packagerevisions',
  singular: 'packagerevision',
  shortNames: [],
  categories: [],
  namespaced: true,
  schema: obj('PackageRevision', { apiVersion: str('apiVersion'), kind: str('kind'), metadata: objectMetaSchema, spec: anyObject('spec'), status: anyObject('status') }),
  subresources: {},
  verbs: ['create', 'get', 'list', 'watch'],
  columns: [],
  fieldSelectors: {},
  strategy: {},
  description: 'PackageRevision-shaped objects',
};

interface Env {
  prs: Registry;
  prr: PackageRevisionResourcesStorage;
  /** the commit of the package c1/web (two files) */
  commit: string;
  /** credential lookups so far (one per file read that got as far as opening the repository) */
  lookups(): number;
  /** lets every waiting and later lookup through */
  release(): void;
  create(i: number): Promise<KObject>;
}

async function env(t: ExecutionContext): Promise<Env> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'prr-queue-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bare = path.join(dir, 'deploy.git');
  await git(dir, 'init', '-q', '--bare', '-b', 'main', bare);
  const repo = await GitRepo.open({ gitdir: bare });
  const commit = await repo.commitFiles({ parent: null, dir: 'c1/web', files: new Map([['Kptfile', Buffer.from('kind: Kptfile\n')], ['a.yaml', Buffer.from('a: 1\n')]]), message: 'web' });

  const store = SqliteStore.open(path.join(dir, 'store.db'));
  const cachers = new CacherSet(store);
  const prs = new Registry(def, store, cachers.add(new Cacher(Registry.prefix(def), Registry.decode)));
  await cachers.start();
  t.teardown(async () => {
    cachers.stop();
    await store.close();
  });

  let lookups = 0;
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const repository = {
    metadata: { namespace: NS, name: 'deploy' },
    spec: { type: 'git', deployment: true, git: { url: bare, ref: 'main', directory: '', credentials: 'creds' } },
  } as unknown as Repository;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'prr-queue-data-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const engine = new PackageEngine({
    dataDir,
    localRepositories: { roots: [dir], dataDir },
    credentials: {
      async lookup() {
        lookups++;
        await released;
        return { username: 'u', password: 'p' };
      },
    },
    repository: () => repository,
    committer: { name: 'test', email: 'test@example.com' },
  });
  return {
    prs,
    prr: new PackageRevisionResourcesStorage(prs, engine),
    commit,
    lookups: () => lookups,
    release,
    create: (i) =>
      prs.create(
        NS,
        {
          apiVersion: `${PKG_GROUP}/${PKG_VERSION}`,
          kind: 'PackageRevision',
          metadata: { name: `w${i}`, namespace: NS },
          spec: { packageRevID: { target: 'c1', repository: 'deploy', realm: '', package: 'web', workspace: `ws${i}` } },
          status: { git: { commit } },
        },
        SYSTEM,
      ),
  };
}

/** A sink that records what it gets, and whether the storage closed it. */
function recorder() {
  const sent: string[] = [];
  let closed = 0;
  const sink = { send: (type: string, o: KObject) => void sent.push(`${type} ${o.metadata.name}`), close: () => void closed++ };
  return { sink: sink as WatchSink, sent, closed: () => closed };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test.serial('stopping a watch drops its queue: only the read under way finishes, and nothing is sent', async (t) => {
  const e = await env(t);
  const r = recorder();
  const stop = e.prr.watch(NS, {}, r.sink);
  for (let i = 0; i < 5; i++) await e.create(i);
  await settle();
  t.is(e.lookups(), 1); // the first event's read waits; four events queue behind it
  stop();
  const reads = (await gitFileReads.get()).values[0]?.value ?? 0;
  e.release();
  // a read of the same commit shares (or finds) the one under way, so it is done when this is
  const files = await e.prr.get(NS, 'w0');
  await settle();
  t.deepEqual(Object.keys((files as any).spec.resources), ['Kptfile', 'a.yaml']);
  t.is(e.lookups(), 2); // the read under way, and the get: none for the four dropped events
  t.is(((await gitFileReads.get()).values[0]?.value ?? 0) - reads, 2); // two files, read once
  await e.create(5);
  await settle();
  t.deepEqual(r.sent, []);
  t.is(r.closed(), 0);
  t.is(e.lookups(), 2);
});

test.serial(`more than ${WATCH_QUEUE_LIMIT} live events waiting end the watch`, async (t) => {
  const e = await env(t);
  const r = recorder();
  e.prr.watch(NS, {}, r.sink);
  // the first event's read waits; WATCH_QUEUE_LIMIT more events may wait behind it
  for (let i = 0; i <= WATCH_QUEUE_LIMIT; i++) await e.create(i);
  t.is(r.closed(), 0);
  await e.create(WATCH_QUEUE_LIMIT + 1);
  t.is(r.closed(), 1);
  e.release();
  await e.prr.get(NS, 'w0');
  await settle();
  t.deepEqual(r.sent, []);
  t.is(e.lookups(), 2);
});

test.serial('the initial events of a watch do not count against the limit', async (t) => {
  const e = await env(t);
  for (let i = 0; i < WATCH_QUEUE_LIMIT + 20; i++) await e.create(i);
  const r = recorder();
  const stop = e.prr.watch(NS, {}, r.sink);
  t.teardown(stop);
  e.release();
  await poll('every initial event sent', async () => (r.sent.length >= WATCH_QUEUE_LIMIT + 20 ? true : undefined));
  t.is(r.closed(), 0);
  t.deepEqual(r.sent, Array.from({ length: WATCH_QUEUE_LIMIT + 20 }, (_, i) => `ADDED w${i}`).sort());
});
