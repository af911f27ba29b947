// propagationPolicy and ownerReference garbage collection for every stored kind (issue 13), through
// the real server with its controllers: Repositories, PackageVariants and PackageRevisions own
// each other (every owner kind × every dependent kind), and a DELETE with
// * Background deletes the owner (after its own finalizers) and then its dependents;
// * Foreground keeps the owner (deletionTimestamp, finalizer `foregroundDeletion`) while its
//   dependents are being deleted (here each holds a finalizer of its own), and lets it go when the
//   last is gone; a dependent that cannot be deleted (a published revision) loses the
//   ownerReference instead and stays;
// * Orphan adds the finalizer `orphan`: the dependents lose their ownerReferences and stay, then
//   the finalizer goes (even while another finalizer keeps the owner).
// Every wait polls a condition.
import test, { type ExecutionContext } from 'ava';
import path from 'node:path';
import { git } from './helpers/gitserver.ts';
import { HttpClient } from './helpers/http.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';

const CFG = 'config.pkg.pkgserver.dev/v1alpha1';
const PKG = 'pkg.pkgserver.dev/v1alpha1';
const MERGE = 'application/merge-patch+json';
const HOLD = 'example.com/hold';
const WAIT = 120_000;

let server: ServerHandle;
let admin: HttpClient;
const gitDir = tempDir('gc-git-');

type Kind = 'Repository' | 'PackageVariant' | 'PackageRevision';
const KINDS: Kind[] = ['Repository', 'PackageVariant', 'PackageRevision'];
const collection = (ns: string, kind: Kind) =>
  kind === 'Repository' ? `/apis/${CFG}/namespaces/${ns}/repositories` : kind === 'PackageVariant' ? `/apis/${CFG}/namespaces/${ns}/packagevariants` : `/apis/${PKG}/namespaces/${ns}/packagerevisions`;

interface Ref {
  kind: Kind;
  name: string;
  path: string;
}

test.before(async () => {
  server = await startServer({ controllers: true });
  admin = new HttpClient(server.url, adminTLS(server));
});
test.after.always(async () => {
  await server?.stop();
});

async function bare(ns: string, name: string): Promise<string> {
  await git(gitDir, 'init', '-q', '--bare', '-b', 'main', `${ns}-${name}.git`);
  return path.join(gitDir, `${ns}-${name}.git`);
}

/** Creates an object of `kind` (owned by `owner` when given, with `finalizers`); PackageRevisions are drafts in the namespace's repository `deploy`. */
async function make(ns: string, kind: Kind, name: string, owner?: { kind: Kind; name: string; uid: string }, finalizers?: string[]): Promise<Ref & { uid: string }> {
  const metadata: Record<string, unknown> = { name };
  if (owner) metadata.ownerReferences = [{ apiVersion: owner.kind === 'PackageRevision' ? PKG : CFG, kind: owner.kind, name: owner.name, uid: owner.uid, blockOwnerDeletion: true }];
  if (finalizers) metadata.finalizers = finalizers;
  let body: Record<string, unknown>;
  let objName = name;
  if (kind === 'Repository') body = { apiVersion: CFG, kind, metadata, spec: { deployment: true, git: { url: await bare(ns, name) }, sync: { period: '1h' } } };
  else if (kind === 'PackageVariant')
    // an upstream that does not exist: the variant makes no draft, its controller only reports it
    body = { apiVersion: CFG, kind, metadata, spec: { upstream: { repository: 'none', package: 'none' }, downstream: { target: 'c1', repository: 'deploy', package: `pv-${name}` } } };
  else {
    objName = `c1.deploy..${name}.ws`;
    body = { apiVersion: PKG, kind, metadata: { ...metadata, name: objName }, spec: { packageRevID: { target: 'c1', repository: 'deploy', package: name, workspace: 'ws' }, tasks: [{ type: 'init' }] } };
  }
  const r = await admin.post(collection(ns, kind), body);
  if (r.status !== 201) throw new Error(`create ${kind} ${objName}: ${r.status} ${JSON.stringify(r.body)}`);
  return { kind, name: objName, path: `${collection(ns, kind)}/${objName}`, uid: r.body.metadata.uid };
}

async function get(p: string): Promise<any | undefined> {
  const r = await admin.get(p);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const gone = (what: string, p: string) => poll(`${what} gone`, async () => ((await get(p)) === undefined ? true : undefined), WAIT);

/** Removes one finalizer (a merge patch of the rest, with the resourceVersion read: retried on a conflict). */
async function release(p: string, finalizer: string): Promise<void> {
  await poll(
    `${finalizer} removed from ${p}`,
    async () => {
      const o = await get(p);
      if (!o || !(o.metadata.finalizers ?? []).includes(finalizer)) return true;
      const rest = o.metadata.finalizers.filter((f: string) => f !== finalizer);
      const r = await admin.patch(p, { metadata: { resourceVersion: o.metadata.resourceVersion, finalizers: rest.length ? rest : null } }, MERGE);
      if (r.status === 200 || r.status === 404) return true;
      if (r.status !== 409) throw new Error(`${r.status} ${JSON.stringify(r.body)}`);
      return undefined;
    },
    WAIT,
  );
}

/** A namespace with its repository `deploy` and, for each owner kind, an owner with a dependent of each kind. */
async function family(ns: string, tag: string, dependentFinalizers?: string[], ownerFinalizers?: string[]) {
  const repo = await admin.post(collection(ns, 'Repository'), { apiVersion: CFG, kind: 'Repository', metadata: { name: 'deploy' }, spec: { deployment: true, git: { url: await bare(ns, 'deploy') }, sync: { period: '1h' } } });
  if (repo.status !== 201) throw new Error(JSON.stringify(repo.body));
  const out: { owner: Ref & { uid: string }; dependents: (Ref & { uid: string })[] }[] = [];
  for (const ok of KINDS) {
    const ownerName = `${tag}-${ok.toLowerCase()}`;
    const owner = await make(ns, ok, ownerName, undefined, ownerFinalizers);
    const dependents = [];
    for (const dk of KINDS) dependents.push(await make(ns, dk, `${ownerName}-${dk.toLowerCase()}`, { kind: ok, name: owner.name, uid: owner.uid }, dependentFinalizers));
    out.push({ owner, dependents });
  }
  return out;
}

test('Background: the owner goes (once its controller is done with it), then each of its dependents, for every owner and dependent kind', async (t) => {
  const ns = 'gc-background';
  for (const { owner, dependents } of await family(ns, 'bg')) {
    const r = await admin.delete(owner.path, { propagationPolicy: 'Background' });
    t.is(r.status, 200, JSON.stringify(r.body));
    await gone(`${owner.kind} ${owner.name}`, owner.path);
    for (const d of dependents) await gone(`${d.kind} ${d.name} (owned by ${owner.kind})`, d.path);
  }
  t.pass();
});

/** Deletes every owner of `fam` with `policy`: each answer is the owner being deleted, held by `finalizer`. */
async function deleteOwners(t: ExecutionContext, fam: { owner: { kind: string; path: string } }[], policy: string, finalizer: string): Promise<void> {
  for (const { owner } of fam) {
    const r = await admin.delete(owner.path, { propagationPolicy: policy });
    t.is(r.status, 200, JSON.stringify(r.body));
    t.truthy(r.body.metadata.deletionTimestamp, owner.kind);
    t.true(r.body.metadata.finalizers.includes(finalizer), `${owner.kind}: ${r.body.metadata.finalizers}`);
  }
}

test('Foreground: the owner waits with foregroundDeletion until its dependents are gone, for every owner and dependent kind', async (t) => {
  const ns = 'gc-foreground';
  const fam = await family(ns, 'fg', [HOLD]);
  await deleteOwners(t, fam, 'Foreground', 'foregroundDeletion');
  for (const { owner, dependents } of fam) {
    // every dependent is being deleted, and held by its own finalizer; the owner waits for them
    for (const d of dependents) {
      const o = await poll(`${d.kind} ${d.name} being deleted`, async () => ((await get(d.path))?.metadata.deletionTimestamp ? get(d.path) : undefined), WAIT);
      t.deepEqual(o.metadata.finalizers, [HOLD], `${d.kind} of ${owner.kind}`);
    }
    const waiting = await get(owner.path);
    t.truthy(waiting, `${owner.kind} waits for its dependents`);
    t.true(waiting.metadata.finalizers.includes('foregroundDeletion'), owner.kind);
  }
  for (const { owner, dependents } of fam) {
    for (const d of dependents) await release(d.path, HOLD);
    for (const d of dependents) await gone(`${d.kind} ${d.name}`, d.path);
    await gone(`${owner.kind} ${owner.name}`, owner.path);
  }
});

test('Foreground: a dependent that cannot be deleted (a published revision) loses the ownerReference and stays; the owner goes', async (t) => {
  const ns = 'gc-foreground-published';
  const [{ owner }] = await family(ns, 'pub');
  const pr = await make(ns, 'PackageRevision', 'published', { kind: owner.kind, name: owner.name, uid: owner.uid });
  for (const lifecycle of ['proposed', 'published']) t.is((await admin.patch(pr.path, { spec: { lifecycle } }, MERGE)).status, 200);
  t.is((await admin.delete(owner.path, { propagationPolicy: 'Foreground' })).status, 200);
  await gone(`${owner.kind} ${owner.name}`, owner.path);
  const kept = await get(pr.path);
  t.is(kept?.spec.lifecycle, 'published');
  t.is(kept.metadata.ownerReferences, undefined);
});

test('Orphan: the owner gets the orphan finalizer, its dependents lose the ownerReference and stay, for every owner and dependent kind', async (t) => {
  const ns = 'gc-orphan';
  // the owners hold a finalizer of their own: the orphan finalizer is handled (and removed) meanwhile
  const fam = await family(ns, 'or', undefined, [HOLD]);
  await deleteOwners(t, fam, 'Orphan', 'orphan');
  for (const { owner, dependents } of fam) {
    for (const d of dependents) {
      const o = await poll(`${d.kind} ${d.name} orphaned`, async () => {
        const x = await get(d.path);
        return x && !(x.metadata.ownerReferences ?? []).some((r: any) => r.uid === owner.uid) ? x : undefined;
      }, WAIT);
      t.falsy(o.metadata.deletionTimestamp, `${d.kind} of ${owner.kind} is not deleted`);
    }
    const held = await poll(`${owner.kind}: the orphan finalizer done`, async () => {
      const o = await get(owner.path);
      return o && !o.metadata.finalizers.includes('orphan') ? o : undefined;
    }, WAIT);
    t.true(held.metadata.finalizers.includes(HOLD), owner.kind);
    await release(owner.path, HOLD);
    await gone(`${owner.kind} ${owner.name}`, owner.path);
    for (const d of dependents) t.truthy(await get(d.path), `${d.kind} of ${owner.kind} stays`);
  }
});
