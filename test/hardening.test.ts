// Hostile input, each case of the issue as a named regression test over HTTPS against the real
// server: the status and message kube would give, and nothing changed. Shape before logic
// (ObjectMeta types, non-JSON YAML values), bounded nesting, bounded decoded and stored sizes
// (YAML aliases), undecodable paths and bodies, query options as kube validates them.
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { git } from './helpers/gitserver.ts';
import { HttpClient } from './helpers/http.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';

const NS = 'hard';
const REPOS = `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/repositories`;
const PR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisions`;
const PV = `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagevariants`;
const MERGE = 'application/merge-patch+json';

let server: ServerHandle;
let admin: HttpClient;

const repo = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name, ...extra }, spec: { git: { url: 'https://git.example.com/x.git' } } });
const status = (code: number, reason: string, message: string, details?: unknown) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code });

/** Everything a rejected request could have changed. */
async function snapshot(): Promise<string> {
  const lists = await Promise.all([REPOS, PR, PV].map((u) => admin.get(u)));
  return JSON.stringify(lists.map((l) => [l.body.metadata.resourceVersion, l.body.items.map((o: any) => [o.metadata.name, o.metadata.resourceVersion])]));
}

function rssKiB(): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.proc.pid}/status`, 'utf8'))![1]);
}

const nested = (depth: number, leaf: unknown = 1) => JSON.parse(`${'{"a":'.repeat(depth)}${JSON.stringify(leaf)}${'}'.repeat(depth)}`);
const nestedText = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

test.before(async () => {
  server = await startServer({});
  admin = new HttpClient(server.url, adminTLS(server));
  const dir = tempDir('hard-git-');
  await git(dir, 'init', '-q', '--bare', '-b', 'main', 'deploy.git');
  const r = await admin.post(REPOS, { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name: 'deploy' }, spec: { deployment: true, git: { url: path.join(dir, 'deploy.git') } } });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  const d = await admin.post(PR, { apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', metadata: { name: 'c1.deploy..web.ws' }, spec: { packageRevID: { target: 'c1', repository: 'deploy', package: 'web', workspace: 'ws' }, tasks: [{ type: 'init' }] } });
  if (d.status !== 201) throw new Error(JSON.stringify(d.body));
});
test.after.always(async () => {
  await server?.stop();
});

test.serial('ObjectMeta of the wrong types: 400 with Go\'s decoding message, before any other code', async (t) => {
  const before = await snapshot();
  const cases: [Record<string, unknown>, string][] = [
    [{ finalizers: 0 }, 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.finalizers of type []string'],
    [{ finalizers: [null, 3] }, 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.finalizers of type string'],
    [{ ownerReferences: 'x' }, 'json: cannot unmarshal string into Go struct field ObjectMeta.metadata.ownerReferences of type []v1.OwnerReference'],
    [{ ownerReferences: [7] }, 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.ownerReferences of type v1.OwnerReference'],
    [{ labels: { a: 1 } }, 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string'],
    [{ name: 42 }, 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string'],
  ];
  for (const [meta, message] of cases) {
    const r = await admin.post(REPOS, { ...repo('x'), metadata: { name: 'x', ...meta } });
    t.deepEqual(r.body, status(400, 'BadRequest', `Repository in version "v1alpha1" cannot be handled as a Repository: ${message}`), JSON.stringify(meta));
  }
  // a PackageRevision whose name is not a string (it used to reach `name.split`)
  const pr = await admin.post(PR, { apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', metadata: { name: 7 }, spec: {} });
  t.is(pr.status, 400);
  t.is(pr.body.message, 'PackageRevision in version "v1alpha1" cannot be handled as a PackageRevision: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string');
  // the same through a patch
  const p = await admin.patch(`${PR}/c1.deploy..web.ws`, { metadata: { finalizers: 0 } }, MERGE);
  t.is(p.status, 400);
  t.regex(p.body.message, /ObjectMeta\.metadata\.finalizers of type \[\]string/);
  t.is(await snapshot(), before);
});

test.serial('YAML values that are not JSON data (!!binary) and YAML that does not parse: 400', async (t) => {
  const r = await admin.post(REPOS, `apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata: {name: bin}\nspec:\n  git: {url: !!binary aGVsbG8=}\n`, { contentType: 'application/yaml' });
  t.is(r.status, 400);
  t.regex(r.body.message, /^the request body could not be decoded/);
  t.is((await admin.get(`${REPOS}/bin`)).status, 404);
});

test.serial('nesting deeper than the bound, in bodies and in every patch type: 400 before any library recurses', async (t) => {
  const before = await snapshot();
  const deepPV = { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'PackageVariant', metadata: { name: 'deep' }, spec: { upstream: { repository: 'c', package: 'p' }, downstream: { target: 't', repository: 'deploy', package: 'p' }, packageContext: { inputs: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: nested(1000) }] } } };
  const r = await admin.post(PV, deepPV);
  t.is(r.status, 400);
  t.regex(r.body.message, /^the request body nests deeper than 100 levels/);
  for (const [ct, body] of [
    [MERGE, `{"metadata":{"labels":${nestedText(5000)}}}`],
    ['application/strategic-merge-patch+json', `{"metadata":{"labels":${nestedText(5000)}}}`],
    ['application/json-patch+json', `[{"op":"add","path":"/metadata/labels","value":${nestedText(5000)}}]`],
    ['application/yaml', `${'['.repeat(20000)}${']'.repeat(20000)}`],
  ]) {
    const p = ct === 'application/yaml' ? await admin.post(REPOS, body, { contentType: ct }) : await admin.patch(`${PR}/c1.deploy..web.ws`, body, ct);
    t.is(p.status, 400, ct);
    t.regex(p.body.message, /nests deeper than 100 levels/, ct);
  }
  t.is(await snapshot(), before);
});

test.serial('an undecodable path is 400; a compressed body (a gzip bomb too) is 415', async (t) => {
  const r = await admin.get('/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/%ZZ/repositories');
  t.deepEqual(r.body, status(400, 'BadRequest', 'the request path could not be decoded'));
  // no Content-Encoding is decoded (as kube-apiserver): 415 whatever the body, even real gzip
  for (const body of [Buffer.from(JSON.stringify(repo('gz'))), zlib.gzipSync(JSON.stringify(repo('gz'))), zlib.gzipSync(Buffer.alloc(64 << 20, 32))]) {
    const g = await admin.post(REPOS, body, { headers: { 'Content-Encoding': 'gzip' } });
    t.is(g.status, 415);
    t.is(g.body.message, 'the request body\'s Content-Encoding "gzip" is not supported: send it uncompressed');
  }
  t.is((await admin.get(`${REPOS}/gz`)).status, 404);
});

test.serial('YAML alias amplification is bounded by the bytes it expands to (413), and the server\'s memory stays put', async (t) => {
  const before = await snapshot();
  const anchor = 'x'.repeat(2_900_000);
  const yaml = `apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: bomb\n  annotations:\n    a0: &big "${anchor}"\n${Array.from({ length: 98 }, (_, i) => `    a${i + 1}: *big\n`).join('')}spec: {git: {url: "https://git.example.com/x.git"}}\n`;
  // the same inside a PackageRevision's inputs
  const prYaml = `apiVersion: pkg.pkgserver.dev/v1alpha1\nkind: PackageRevision\nmetadata: {name: c1.deploy..bomb.ws}\nspec:\n  packageRevID: {target: c1, repository: deploy, package: bomb, workspace: ws}\n  tasks: [{type: init}]\n  inputs:\n  - &cm {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {x: "${anchor}"}}\n${Array.from({ length: 98 }, () => '  - *cm\n').join('')}`;
  const send = async () => {
    const r = await admin.post(REPOS, yaml, { contentType: 'application/yaml' });
    t.is(r.status, 413);
    t.regex(r.body.message, /^Request entity too large: the decoded request body \(YAML aliases expanded\) is larger than the limit of 3145728 bytes/);
    const p = await admin.post(PR, prYaml, { contentType: 'application/yaml' });
    t.is(p.status, 413);
  };
  // the first pair grows the heap to hold one 3 MB body (any request that size does); after it,
  // bodies that would expand to 290 MB each must leave the memory where it was
  // reference: plain bodies of the same size, refused (annotations too large)
  const plain = JSON.stringify({ apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name: 'plain', annotations: { a: anchor } }, spec: { git: { url: 'https://git.example.com/x.git' } } });
  await send();
  const rss0 = rssKiB();
  for (let i = 0; i < 10; i++) t.is((await admin.post(REPOS, plain)).status, 422); // annotations over 256 KiB
  const rss1 = rssKiB();
  for (let i = 0; i < 5; i++) await send();
  const grew = rssKiB() - rss1;
  t.is(await snapshot(), before);
  t.log(`RSS: 10 plain 3 MB bodies grew it by ${rss1 - rss0} KiB, then 10 alias bombs (290 MB each if expanded) by ${grew} KiB`);
  // an expansion would take 290 MB per body; the bound leaves room for the allocator and GC
  // timing of ten 3 MB bodies on a loaded machine (12 MiB was seen exceeded by 0.5 MiB under load)
  t.true(grew < 64 * 1024, `RSS grew by ${grew} KiB`);
});

test.serial('a stored object is bounded after decoding and defaulting (413, like etcd\'s limit)', async (t) => {
  const before = await snapshot();
  const big = { ...repo('huge'), metadata: { name: 'huge', annotations: { a: 'x'.repeat(200_000) } } };
  // annotations are limited to 256 KiB by kube's rules; a PackageVariant's inputs are not
  t.is((await admin.post(REPOS, big)).status, 201);
  const inputs = Array.from({ length: 9 }, (_, i) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}` }, data: { x: 'y'.repeat(200_000) } }));
  const r = await admin.post(PV, { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'PackageVariant', metadata: { name: 'big' }, spec: { upstream: { repository: 'c', package: 'p' }, downstream: { target: 't', repository: 'deploy', package: 'p' }, packageContext: { inputs } } });
  t.is(r.status, 413);
  t.regex(r.body.message, /^Request entity too large: the PackageVariant "big" \(\d+ bytes encoded\) is larger than the limit of 1572864 bytes$/);
  t.is((await admin.get(`${PV}/big`)).status, 404);
  t.not(await snapshot(), before, 'the first create went through');
});

test.serial('labels past the object limit are refused with 413 before any label is validated; a 422 lists at most 100 causes', async (t) => {
  const labels = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, 'v']));
  const tooLarge = /^Request entity too large: the Repository "many" \(more than 1572864 bytes of labels, annotations and finalizers\) is larger than the limit of 1572864 bytes$/;
  const many = (extra: Record<string, unknown> = {}) => ({ ...repo('many', extra), spec: { git: { url: 'https://git.example.com/many.git' } } });
  const created = await admin.post(REPOS, many({ labels }));
  t.is(created.status, 413);
  t.is(created.body.reason, 'RequestEntityTooLarge');
  t.regex(created.body.message, tooLarge);
  // the same through a patch of an existing object, and with one bad label among them (413 still: the cheap bound first)
  t.is((await admin.post(REPOS, many())).status, 201);
  const patched = await admin.patch(`${REPOS}/many`, { metadata: { labels: { ...labels, 'bad key!': 'x' } } }, MERGE);
  t.is(patched.status, 413);
  t.regex(patched.body.message, tooLarge);
  // annotations over kube's 256 KiB are its 422, before the size (even with the labels past it)
  const annotations = Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`a${i}`, 'v'.repeat(10)]));
  const fewer = Object.fromEntries(Object.entries(labels).slice(0, 150_000)); // the body within its 3 MiB
  const tooLong = await admin.patch(`${REPOS}/many`, { metadata: { labels: fewer, annotations } }, MERGE);
  t.is(tooLong.status, 422);
  t.is(tooLong.body.message, 'Repository.config.pkg.pkgserver.dev "many" is invalid: metadata.annotations: Too long: may not be more than 262144 bytes');
  // a wrong type is still the decoding's 400, before the size
  const typed = await admin.patch(`${REPOS}/many`, { metadata: { labels: { ...labels, k0: 1 } } }, MERGE);
  t.is(typed.status, 400);
  // within the limit, 5,000 invalid labels: 422 with the first 100 causes, and the message says how many more
  const bad = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`bad key ${i}!`, 'v']));
  const invalid = await admin.patch(`${REPOS}/many`, { metadata: { labels: bad } }, MERGE);
  t.is(invalid.status, 422);
  t.is(invalid.body.reason, 'Invalid');
  t.is(invalid.body.details.causes.length, 100);
  t.deepEqual(invalid.body.details.causes[0], { reason: 'FieldValueInvalid', field: 'metadata.labels', message: invalid.body.details.causes[0].message });
  t.regex(invalid.body.message, /^Repository\.config\.pkg\.pkgserver\.dev "many" is invalid: \[metadata\.labels: Invalid value: "bad key 0!": .*, and 4900 more errors\]$/);
  t.true(JSON.stringify(invalid.body).length < 100_000, `${JSON.stringify(invalid.body).length} bytes`);
  t.is((await admin.get(`${REPOS}/many`)).body.metadata.labels, undefined, 'no patch went through');
  t.is((await admin.delete(`${REPOS}/many`)).status, 200);
});

test.serial('query options as kube validates them', async (t) => {
  const rvm = await admin.get(`${REPOS}?resourceVersionMatch=bogus&resourceVersion=1`);
  t.is(rvm.status, 422);
  t.is(rvm.body.message, 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: "bogus": supported values: "Exact", "NotOlderThan", ""');
  const noRV = await admin.get(`${REPOS}?resourceVersionMatch=NotOlderThan`);
  t.is(noRV.status, 422);
  t.regex(noRV.body.message, /resourceVersionMatch is forbidden unless resourceVersion is provided/);
  t.is((await admin.get(`${REPOS}?limit=-1`)).status, 200, 'limit <= 0 is no limit');
  const fm = await admin.post(`${REPOS}?fieldManager=${'m'.repeat(300)}`, repo('fm'));
  t.is(fm.status, 422);
  t.is(fm.body.message, 'CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes');
  const bad = await admin.patch(`${REPOS}/deploy?fieldManager=a%0Ab`, { metadata: { labels: { a: 'b' } } }, MERGE);
  t.is(bad.status, 422);
  t.regex(bad.body.message, /PatchOptions\.meta\.k8s\.io "" is invalid: fieldManager: Invalid value: "a\\nb": invalid character U\+000A \(at position 1\)/);
  const pp = await admin.delete(`${REPOS}/deploy?propagationPolicy=Sideways`);
  t.is(pp.status, 422);
  t.regex(pp.body.message, /propagationPolicy: Unsupported value: "Sideways"/);
  const opts = await admin.delete(`${REPOS}/deploy`, { dryRun: 'All' });
  t.is(opts.status, 400);
  t.is(opts.body.message, 'the DeleteOptions body could not be decoded: json: cannot unmarshal string into Go struct field DeleteOptions.dryRun of type []string');
  await poll('deploy still there', async () => ((await admin.get(`${REPOS}/deploy`)).status === 200 ? true : undefined));
});

test.serial('a PackageRevisionResources patch that changes nothing ({"spec": null}) writes no commit and keeps the resourceVersion', async (t) => {
  const PRR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisionresources/c1.deploy..web.ws`;
  const before = (await admin.get(PRR)).body;
  const head = (await admin.get(`${PR}/c1.deploy..web.ws`)).body.status.git.commit;
  const r = await admin.patch(PRR, { spec: null }, MERGE);
  t.is(r.status, 200, JSON.stringify(r.body));
  t.is(r.body.metadata.resourceVersion, before.metadata.resourceVersion);
  t.is((await admin.get(`${PR}/c1.deploy..web.ws`)).body.status.git.commit, head, 'no new commit');
});

test.serial('keys named like Object.prototype members ("constructor", "__proto__") are pruned as unknown fields, never stored', async (t) => {
  const body = JSON.parse('{"apiVersion":"config.pkg.pkgserver.dev/v1alpha1","kind":"Repository","metadata":{"name":"proto","__proto__":{"name":5}},"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"spec":{"git":{"url":"https://git.example.com/proto.git","constructor":1}}}');
  const strict = await admin.post(`${REPOS}?fieldValidation=Strict`, body);
  t.is(strict.status, 400);
  for (const f of ['metadata.__proto__', '__proto__', 'constructor', 'spec.git.constructor']) t.true(strict.body.message.includes(`unknown field "${f}"`), `${f}: ${strict.body.message}`);
  const r = await admin.post(REPOS, body);
  t.is(r.status, 201, JSON.stringify(r.body));
  const got = (await admin.get(`${REPOS}/proto`)).raw.toString();
  t.false(/__proto__|constructor|polluted/.test(got), got);
  await admin.delete(`${REPOS}/proto`);
  const patched = await admin.patch(`${REPOS}/deploy`, '{"constructor":{"prototype":{"polluted":"yes"}},"metadata":{"__proto__":{"name":5}}}', MERGE);
  t.is(patched.status, 200);
  t.false(/constructor|polluted|__proto__/.test((await admin.get(`${REPOS}/deploy`)).raw.toString()));
  t.is(({} as Record<string, unknown>).polluted, undefined);
});

test.serial('a strategic directive map in place of a list is refused (422), not taken as "remove the list"', async (t) => {
  await admin.patch(`${REPOS}/deploy`, { metadata: { finalizers: ['example.com/keep'] } }, MERGE);
  const before = await snapshot();
  const r = await admin.patch(`${REPOS}/deploy`, { metadata: { finalizers: { $patch: 'replace' } } }, 'application/strategic-merge-patch+json');
  t.is(r.status, 422, JSON.stringify(r.body));
  t.regex(r.body.message, /metadata\.finalizers: cannot replace a list with the directive map/);
  t.deepEqual((await admin.get(`${REPOS}/deploy`)).body.metadata.finalizers, ['example.com/keep']);
  t.is(await snapshot(), before);
  await admin.patch(`${REPOS}/deploy`, { metadata: { finalizers: null } }, MERGE);
});

test.serial('a resourceVersion past an unsigned 64-bit integer is 400 (kube parses it as uint64); a big one within is "too large" (504)', async (t) => {
  const huge = await admin.get(`${REPOS}?resourceVersion=${'9'.repeat(40)}&resourceVersionMatch=NotOlderThan`);
  t.is(huge.status, 400);
  t.regex(huge.body.message, /resourceVersion must be an unsigned 64-bit integer/);
  const big = await admin.get(`${REPOS}?resourceVersion=18446744073709551615&resourceVersionMatch=NotOlderThan&timeoutSeconds=1`);
  t.is(big.status, 504);
});

test.serial('a PackageVariant whose downstream package path has a segment named like a revision is refused (the tag P/v2 would collide)', async (t) => {
  const pv = (downstream: Record<string, string>) => ({ apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'PackageVariant', metadata: { name: 'revlike' }, spec: { upstream: { repository: 'c', package: 'p' }, downstream: { target: 't', repository: 'deploy', ...downstream } } });
  const r = await admin.post(PV, pv({ package: 'v2' }));
  t.is(r.status, 422);
  t.deepEqual(r.body.details.causes, [{ reason: 'FieldValueInvalid', message: 'Invalid value: "v2": a package path may not contain a segment named like a revision (v1, v2.0, ...)', field: 'spec.downstream.package' }]);
  const realm = await admin.post(PV, pv({ package: 'p', realm: 'infra/v1.2' }));
  t.is(realm.status, 422);
  t.is(realm.body.details.causes[0].field, 'spec.downstream.realm');
  t.is((await admin.get(`${PV}/revlike`)).status, 404);
});

test.serial('self reviews decode within the same bounds as resources (deep or aliased bodies are 400/413)', async (t) => {
  const SSR = '/apis/authentication.k8s.io/v1/selfsubjectreviews';
  const deep = await admin.post(SSR, `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview","metadata":{"annotations":${nestedText(5000)}}}`);
  t.is(deep.status, 400);
  t.regex(deep.body.message, /nests deeper than 100 levels/);
  const lines = ['a0: &a0 "' + 'x'.repeat(1024) + '"'];
  for (let i = 1; i < 14; i++) lines.push(`a${i}: &a${i} [*a${i - 1}, *a${i - 1}]`);
  const bomb = await admin.post(SSR, `apiVersion: authentication.k8s.io/v1\nkind: SelfSubjectReview\nmetadata:\n  name: x\nhx:\n  ${lines.join('\n  ')}\n`, { contentType: 'application/yaml' });
  t.is(bomb.status, 413);
});

test.serial('PackageRevisionResources of the wrong shape (spec.resources a string, a file a number) is 422 before any file is written', async (t) => {
  const PRR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisionresources/c1.deploy..web.ws`;
  const head = (await admin.get(`${PR}/c1.deploy..web.ws`)).body.status.git.commit;
  for (const resources of ['x', ['a'], { 'a.yaml': 5 }]) {
    const cur = (await admin.get(PRR)).body;
    const r = await admin.put(PRR, { ...cur, spec: { ...cur.spec, resources } });
    t.is(r.status, 422, JSON.stringify(r.body));
    t.is(r.body.details.causes[0].reason, 'FieldValueTypeInvalid');
    t.regex(r.body.details.causes[0].field, /^spec\.resources/);
  }
  t.is((await admin.get(`${PR}/c1.deploy..web.ws`)).body.status.git.commit, head, 'no new commit');
});
