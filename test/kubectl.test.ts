// Every kubectl from 1.27 to 1.33 against the real server over HTTPS: discovery, OpenAPI
// (v3, and v2 protobuf for 1.27/1.28), tables, watch, create/apply/edit/patch/delete, dry run,
// conflicts, validation errors. One server; each version works in its own namespace.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Kubectl, KUBECTL_VERSIONS, type KubectlVersion } from './helpers/kubectl.ts';
import { startServer, tempDir, type ServerHandle } from './helpers/server.ts';

let server: ServerHandle;
const manifests = tempDir('manifests-');

test.before(async () => {
  server = await startServer();
});
test.after.always(async () => {
  await server?.stop();
});

function manifest(name: string, yaml: string): string {
  const p = path.join(manifests, name);
  writeFileSync(p, yaml);
  return p;
}

const repo = (ns: string, name: string, opts: { url?: string; deployment?: boolean; labels?: string; extra?: string } = {}) => `apiVersion: config.pkg.pkgserver.dev/v1alpha1
kind: Repository
metadata:
  name: ${name}
  namespace: ${ns}
${opts.labels ? `  labels: {${opts.labels}}\n` : ''}spec:
  deployment: ${opts.deployment ?? false}
  git:
    url: ${opts.url ?? `https://git.example.com/${ns}/${name}.git`}
${opts.extra ?? ''}`;

const variant = (ns: string, name: string, finalizer?: string) => `apiVersion: config.pkg.pkgserver.dev/v1alpha1
kind: PackageVariant
metadata:
  name: ${name}
  namespace: ${ns}
${finalizer ? `  finalizers: [${finalizer}]\n` : ''}spec:
  upstream: {repository: catalog, realm: infra/net, package: nginx, revision: v2}
  downstream: {target: cluster01, repository: deploy, realm: infra/net, package: nginx}
`;

/** Lines of a table (header first), split into cells. */
const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/));

/** A long-running kubectl whose output is collected from the start; `until` waits for a pattern. */
function watchOutput(proc: ReturnType<Kubectl['spawn']>) {
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return {
    async until(re: RegExp, ms = 20_000): Promise<string> {
      const deadline = Date.now() + ms;
      while (!re.test(out)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; got:\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return out;
    },
  };
}

for (const v of KUBECTL_VERSIONS) {
  test.serial(`kubectl ${v}`, async (t) => {
    const k = new Kubectl(v as KubectlVersion, server.kubeconfig);
    const ns = `kc-${v.replace('.', '-')}`;
    const other = `${ns}-other`;

    // --- discovery: api-resources with short names and categories
    const apiRes = await k.ok(['api-resources', '--api-group=config.pkg.pkgserver.dev', '-o', 'wide']);
    const repoLine = apiRes.split('\n').find((l) => l.startsWith('repositories '));
    t.truthy(repoLine, apiRes);
    t.regex(repoLine!, /\brepo\b/);
    t.regex(repoLine!, /Repository/);
    t.regex(repoLine!, /\bpkg\b/, 'category pkg');
    t.regex(apiRes, /^packagevariants\s+pv\s+config\.pkg\.pkgserver\.dev\/v1alpha1\s+true\s+PackageVariant/m);

    // --- create -f and apply -f (create, then update)
    t.regex(await k.ok(['create', '-f', manifest(`${ns}-cat.yaml`, repo(ns, 'catalog', { labels: 'team: a' }))]), /repository\.config\.pkg\.pkgserver\.dev\/catalog created/);
    const deployFile = manifest(`${ns}-deploy.yaml`, repo(ns, 'deploy', { deployment: true, labels: 'team: b' }));
    t.regex(await k.ok(['apply', '-f', deployFile]), /repository\.config\.pkg\.pkgserver\.dev\/deploy created/);
    writeFileSync(deployFile, repo(ns, 'deploy', { deployment: true, labels: 'team: b, tier: prod', extra: '  sync: {period: 5m}\n' }));
    t.regex(await k.ok(['apply', '-f', deployFile]), /repository\.config\.pkg\.pkgserver\.dev\/deploy configured/);
    t.is((await k.ok(['get', 'repo', 'deploy', '-n', ns, '-o', 'jsonpath={.spec.sync.period} {.metadata.labels.tier}'])).trim(), '5m prod');
    for (const n of ['r1', 'r2', 'r3']) await k.ok(['create', '-f', manifest(`${ns}-${n}.yaml`, repo(ns, n))]);
    await k.ok(['create', '-f', manifest(`${other}-x.yaml`, repo(other, 'x'))]);
    await k.ok(['create', '-f', manifest(`${ns}-pv.yaml`, variant(ns, 'nginx'))]);

    // --- get: columns, wide, yaml, -A, -l, --field-selector, chunking, custom columns
    const table = rows(await k.ok(['get', 'repositories', '-n', ns]));
    t.deepEqual(table[0], ['NAME', 'DEPLOYMENT', 'TYPE', 'ADDRESS', 'READY', 'PACKAGES', 'AGE']);
    t.deepEqual(table.slice(1).map((r) => r[0]), ['catalog', 'deploy', 'r1', 'r2', 'r3']);
    t.deepEqual(table.find((r) => r[0] === 'deploy')!.slice(1, 6), ['true', 'git', `https://git.example.com/${ns}/deploy.git`, 'Unknown', '0']);
    const wide = rows(await k.ok(['get', 'repo', '-n', ns, '-o', 'wide']));
    t.deepEqual(wide[0], ['NAME', 'DEPLOYMENT', 'TYPE', 'ADDRESS', 'READY', 'PACKAGES', 'AGE', 'REF', 'DIRECTORY', 'LAST-SYNC']);
    const yaml = await k.ok(['get', 'repo', 'catalog', '-n', ns, '-o', 'yaml']);
    t.regex(yaml, /^apiVersion: config\.pkg\.pkgserver\.dev\/v1alpha1$/m);
    t.regex(yaml, /^kind: Repository$/m);
    t.regex(yaml, /^ {4}ref: main$/m, 'defaults applied');
    t.regex(yaml, /^ {2}uid: [0-9a-f-]{36}$/m);
    const all = rows(await k.ok(['get', 'repo', '-A']));
    t.deepEqual(all[0].slice(0, 2), ['NAMESPACE', 'NAME']);
    t.true(all.some((r) => r[0] === other && r[1] === 'x'));
    t.true(all.some((r) => r[0] === ns && r[1] === 'catalog'));
    t.deepEqual(rows(await k.ok(['get', 'repo', '-n', ns, '-l', 'team in (b),tier=prod', '-o', 'name'])).flat(), ['repository.config.pkg.pkgserver.dev/deploy']);
    t.deepEqual(rows(await k.ok(['get', 'repo', '-n', ns, '-l', '!team', '-o', 'name'])).flat().length, 3);
    t.deepEqual(rows(await k.ok(['get', 'repo', '-n', ns, '--field-selector', 'spec.deployment=true', '-o', 'name'])).flat(), ['repository.config.pkg.pkgserver.dev/deploy']);
    t.deepEqual(rows(await k.ok(['get', 'repo', '-n', ns, '--field-selector', 'metadata.name!=catalog,spec.deployment!=true', '-o', 'name'])).flat().length, 3);
    const badField = await k.run(['get', 'repo', '-n', ns, '--field-selector', 'spec.bogus=1']);
    t.is(badField.code, 1);
    t.regex(badField.stderr, /BadRequest.*field label not supported: spec\.bogus/);
    const chunked = rows(await k.ok(['get', 'repo', '-n', ns, '--chunk-size=1']));
    t.deepEqual(chunked.slice(1).map((r) => r[0]), ['catalog', 'deploy', 'r1', 'r2', 'r3']);
    t.deepEqual(rows(await k.ok(['get', 'repo', '-n', ns, '--chunk-size=2', '-o', 'name'])).flat().length, 5);
    const custom = rows(await k.ok(['get', 'repo', '-n', ns, '-o', 'custom-columns=N:.metadata.name,URL:.spec.git.url,DEP:.spec.deployment']));
    t.deepEqual(custom[2], ['deploy', `https://git.example.com/${ns}/deploy.git`, 'true']);
    const pvTable = rows(await k.ok(['get', 'pv', '-n', ns]));
    t.deepEqual(pvTable[0], ['NAME', 'UPSTREAM', 'DOWNSTREAM', 'READY', 'AGE']);
    t.deepEqual(pvTable[1].slice(0, 4), ['nginx', 'catalog/infra/net/nginx@v2', 'cluster01/deploy/infra/net/nginx', 'Unknown']);
    t.regex(await k.ok(['get', 'pkg', '-n', ns]), /packagevariant\.config\.pkg\.pkgserver\.dev\/nginx/, 'category pkg lists both kinds');

    // --- get -w sees an update made by another client
    const watcher = k.spawn(['get', 'repo', '-n', ns, '-w', '--output-watch-events']);
    try {
      const w = watchOutput(watcher);
      await w.until(/ADDED\s+r3/);
      await new Kubectl(v as KubectlVersion, server.kubeconfig).ok(['label', 'repo', 'r1', '-n', ns, 'watched=yes']);
      t.regex(await w.until(/MODIFIED\s+r1/), /MODIFIED\s+r1\s+false\s+git/);
    } finally {
      watcher.kill();
    }

    // --- describe, explain
    const desc = await k.ok(['describe', 'repo', 'deploy', '-n', ns]);
    t.regex(desc, /^Name:\s+deploy$/m);
    t.regex(desc, /^\s+URL:\s+https:\/\/git\.example\.com/m);
    const explain = await k.ok(['explain', 'repository.spec.git']);
    t.regex(explain, /url\s+<string>/);
    t.regex(explain, /credentials\s+<string>/);
    t.regex(explain, /Branch that holds the published packages/);

    // --- edit with a scripted editor
    t.regex(await k.ok(['edit', 'repo', 'r2', '-n', ns], { env: { EDITOR: k.editor('s/period: 60s/period: 30s/') } }), /repository\.config\.pkg\.pkgserver\.dev\/r2 edited/);
    t.is(await k.ok(['get', 'repo', 'r2', '-n', ns, '-o', 'jsonpath={.spec.sync.period}']), '30s');

    // --- patch: merge, json (with test), strategic (no --type), status subresource
    await k.ok(['patch', 'repo', 'r1', '-n', ns, '--type=merge', '-p', '{"spec":{"approval":{"requireDistinctApprover":true}}}']);
    await k.ok(['patch', 'repo', 'r1', '-n', ns, '--type=json', '-p', '[{"op":"test","path":"/spec/deployment","value":false},{"op":"replace","path":"/spec/deployment","value":true}]']);
    const failedTest = await k.run(['patch', 'repo', 'r1', '-n', ns, '--type=json', '-p', '[{"op":"test","path":"/spec/deployment","value":false}]']);
    t.not(failedTest.code, 0);
    t.regex(failedTest.stderr, /test operation failed/);
    t.regex(await k.ok(['patch', 'repo', 'r1', '-n', ns, '-p', '{"metadata":{"labels":{"smp":"yes"}},"spec":{"sync":{"period":"2m"}}}']), /patched/);
    t.is(await k.ok(['get', 'repo', 'r1', '-n', ns, '-o', 'jsonpath={.spec.approval.requireDistinctApprover} {.spec.deployment} {.metadata.labels.smp} {.spec.sync.period} {.metadata.labels.watched}']), 'true true yes 2m yes');
    const gen = await k.ok(['get', 'repo', 'r1', '-n', ns, '-o', 'jsonpath={.metadata.generation}']);
    await k.ok(['patch', 'repo', 'r1', '-n', ns, '--subresource=status', '--type=merge', '-p', '{"status":{"packageCount":7},"spec":{"deployment":false}}']);
    t.is(await k.ok(['get', 'repo', 'r1', '-n', ns, '-o', 'jsonpath={.status.packageCount} {.spec.deployment} {.metadata.generation}']), `7 true ${gen}`, 'status writes ignore spec and keep generation');
    await k.ok(['patch', 'repo', 'r1', '-n', ns, '--type=merge', '-p', '{"status":{"packageCount":1}}']);
    t.is(await k.ok(['get', 'repo', 'r1', '-n', ns, '-o', 'jsonpath={.status.packageCount}']), '7', 'main-resource writes ignore status');

    // --- dry run on the server: nothing changes
    t.regex(await k.ok(['create', '-f', manifest(`${ns}-dry.yaml`, repo(ns, 'dry')), '--dry-run=server']), /created \(server dry run\)/);
    t.regex((await k.run(['get', 'repo', 'dry', '-n', ns])).stderr, /NotFound/);
    t.regex(await k.ok(['delete', 'repo', 'r3', '-n', ns, '--dry-run=server']), /deleted \(server dry run\)/);
    t.regex(await k.ok(['get', 'repo', 'r3', '-n', ns, '-o', 'name']), /r3/);
    writeFileSync(deployFile, repo(ns, 'deploy', { deployment: false, labels: 'team: b, tier: prod' }));
    t.regex(await k.ok(['apply', '-f', deployFile, '--dry-run=server']), /configured \(server dry run\)/);
    t.is(await k.ok(['get', 'repo', 'deploy', '-n', ns, '-o', 'jsonpath={.spec.deployment}']), 'true');

    // --- a stale update is a conflict
    const stale = JSON.parse(await k.ok(['get', 'repo', 'r2', '-n', ns, '-o', 'json']));
    await k.ok(['label', 'repo', 'r2', '-n', ns, 'bump=1']);
    stale.spec.sync.period = '10s';
    const conflict = await k.run(['replace', '-f', manifest(`${ns}-stale.json`, JSON.stringify(stale))]);
    t.is(conflict.code, 1);
    t.regex(conflict.stderr, /Conflict.*the object has been modified; please apply your changes to the latest version and try again/);

    // --- invalid objects: 422 naming every bad field
    const bad = await k.run(['create', '-f', manifest(`${ns}-bad.yaml`, repo(ns, 'bad', { url: 'ftp://nope', extra: '  sync: {period: soon}\n  type: oci\n' }))]);
    t.is(bad.code, 1);
    t.regex(bad.stderr, /The Repository "bad" is invalid/);
    t.regex(bad.stderr, /spec\.type: Unsupported value: "oci": supported values: "git"/);
    t.regex(await k.run(['create', '-f', manifest(`${ns}-bad2.yaml`, repo(ns, 'bad2', { url: 'ftp://nope', extra: '  sync: {period: soon}\n' }))]).then((r) => r.stderr), /\* spec\.git\.url: Invalid value: "ftp:\/\/nope"[\s\S]*\* spec\.sync\.period: Invalid value: "soon"/);
    const dup = await k.run(['create', '-f', manifest(`${ns}-dup.yaml`, repo(ns, 'dup', { url: `https://GIT.example.com/${ns}/catalog` }))]);
    t.regex(dup.stderr, /spec\.git\.url: Duplicate value.*Repository "catalog" already serves/);
    const immut = await k.run(['patch', 'repo', 'r2', '-n', ns, '--type=merge', '-p', '{"spec":{"git":{"ref":"dev"}}}']);
    t.regex(immut.stderr, /spec\.git\.ref: Invalid value: "dev": field is immutable/);

    // --- strict validation of unknown fields
    const strict = await k.run(['create', '--validate=strict', '-f', manifest(`${ns}-strict.yaml`, repo(ns, 'strict', { extra: '  bogusField: 1\n' }))]);
    t.is(strict.code, 1);
    t.regex(strict.stderr, /unknown field "spec\.bogusField"/);
    t.regex((await k.run(['get', 'repo', 'strict', '-n', ns])).stderr, /NotFound/);

    // --- delete, including one held by a finalizer until it is removed
    t.regex(await k.ok(['delete', 'repo', 'r3', '-n', ns]), /repository\.config\.pkg\.pkgserver\.dev "r3" deleted/);
    await k.ok(['create', '-f', manifest(`${ns}-held.yaml`, variant(ns, 'held', 'example.com/hold'))]);
    const deleting = k.spawn(['delete', 'pv', 'held', '-n', ns, '--timeout=60s']);
    const done = new Promise<number>((resolve) => deleting.on('exit', (c) => resolve(c ?? -1)));
    let ts = '';
    for (let i = 0; i < 100 && !ts; i++) {
      ts = await k.ok(['get', 'pv', 'held', '-n', ns, '-o', 'jsonpath={.metadata.deletionTimestamp}']);
      if (!ts) await new Promise((r) => setTimeout(r, 100));
    }
    t.truthy(ts, 'deletionTimestamp set while the finalizer holds it');
    await k.ok(['patch', 'pv', 'held', '-n', ns, '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
    t.is(await done, 0, 'kubectl delete returns once the finalizer is removed');
    t.regex((await k.run(['get', 'pv', 'held', '-n', ns])).stderr, /NotFound/);
  });
}
