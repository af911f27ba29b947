// `kubectl pkg` through kubectl's own plugin mechanism (kubectl 1.27 and 1.33 find `kubectl-pkg`
// on PATH), against the server of `pkgserver quickstart`: pull, edit, push, diff, propose,
// approve and what git then holds; a stale push refused and --force; published revisions refused;
// upgrade --discover; deps of the quickstart's app; --help; errors as kubectl prints them.
import test from 'ava';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { poll } from './helpers/poll.ts';
import { pluginPath, run, startQuickstart, userEnv, type Quickstart } from './helpers/quickstart.ts';
import { kubectlPath, type KubectlVersion } from './helpers/kubectl.ts';
import { tempDir } from './helpers/server.ts';
import { safeJoin } from '../src/cli/pkg/files.ts';
import { COMMANDS } from '../src/cli/pkg/main.ts';

let qs: Quickstart;
const root = tempDir('cli-pkg-');

test.before(async () => {
  qs = await startQuickstart(path.join(root, 'qs'));
});
test.after.always(async () => {
  await qs?.stop();
  await rm(root, { recursive: true, force: true });
});

/** `kubectl.<version> pkg args…` with the plugin on PATH and KUBECONFIG set (as a user would). */
function pkg(version: KubectlVersion, args: string[], opts: { cwd?: string } = {}) {
  const { PATH } = pluginPath(version);
  return run(kubectlPath(version), ['pkg', ...args], { cwd: opts.cwd ?? root, env: userEnv(PATH, qs.kubeconfig, root) });
}

async function ok(version: KubectlVersion, args: string[]): Promise<string> {
  const r = await pkg(version, args);
  if (r.code !== 0) throw new Error(`kubectl.${version} pkg ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Files under dir (relative path → content), without the pull record. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const rel = path.relative(dir, path.join(e.parentPath, e.name));
    if (rel === '.pkgserver-pull.yaml') continue;
    out[rel] = await readFile(path.join(dir, rel), 'utf8');
  }
  return out;
}

const gitEnv = { PATH: process.env.PATH, HOME: root, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
const noStack = (t: { false(v: boolean, m?: string): void }, s: string) => t.false(/\n\s+at /.test(s) || /node:internal|\.ts:\d+/.test(s), `no stack trace: ${s}`);

for (const [version, target, viaSubresource] of [
  ['1.27', 'c127', false],
  ['1.33', 'c133', true],
] as const) {
  test(`kubectl ${version} pkg: clone, pull, edit, push, diff, propose, approve; git holds exactly the pushed files`, async (t) => {
    t.timeout(180_000);
    const rev = `${target}.deploy.apps.shop.ws1`;
    t.regex(await ok(version, ['clone', 'catalog.catalog.apps.shop.v2', rev]), new RegExp(`^${rev.replace(/\./g, '\\.')} created \\(clone of catalog/apps/shop@v2; draft`));

    // pull
    const dir = path.join(root, `work-${target}`);
    t.regex(await ok(version, ['pull', rev, dir]), /^pulled .* \(\d+ files, resourceVersion \d+\) into /);
    const pulled = await tree(dir);
    t.deepEqual(Object.keys(pulled).sort(), ['Kptfile', 'README.md', 'kustomization.yaml', 'shop.yaml', 'widget.yaml']);
    const record = YAML.parse(await readFile(path.join(dir, '.pkgserver-pull.yaml'), 'utf8'));
    t.is(record.name, rev);
    t.regex(record.resourceVersion, /^\d+$/);

    // edit: change one file, add one, delete one
    await writeFile(path.join(dir, 'shop.yaml'), pulled['shop.yaml'].replace('replicas: 2', 'replicas: 5'));
    await mkdir(path.join(dir, 'config'), { recursive: true });
    await writeFile(path.join(dir, 'config', 'settings.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-settings\ndata:\n  currency: EUR\n');
    await rm(path.join(dir, 'README.md'));
    const pushed = await ok(version, ['push', rev, dir]);
    t.regex(pushed, /added +config\/settings\.yaml/);
    t.regex(pushed, /changed +shop\.yaml/);
    t.regex(pushed, /deleted +README\.md/);
    t.regex(pushed, /pushed .* \(resourceVersion \d+\)/);

    // diff against the upstream the draft was cloned from: a unified diff, no colour (not a terminal)
    const d = await pkg(version, ['diff', rev]);
    t.is(d.code, 0, d.stderr);
    t.regex(d.stderr, /comparing .* with its upstream catalog\/apps\/shop@v2/);
    t.regex(d.stdout, /^--- a\/shop\.yaml\n\+\+\+ b\/shop\.yaml\n@@ -\d+,\d+ \+\d+,\d+ @@$/m);
    t.regex(d.stdout, /^-  replicas: 2\n\+  replicas: 5$/m);
    t.regex(d.stdout, /^--- \/dev\/null\n\+\+\+ b\/config\/settings\.yaml$/m);
    t.regex(d.stdout, /^--- a\/README\.md\n\+\+\+ \/dev\/null$/m);
    t.false(d.stdout.includes('\x1b['), 'no colour when stdout is not a terminal');
    t.true((await ok(version, ['diff', rev, '--color', 'always'])).includes('\x1b[32m+  replicas: 5\x1b[0m'));
    // the diff is a patch git applies: the upstream's files patched are the draft's
    const base = path.join(root, `base-${target}`);
    await ok(version, ['pull', 'catalog.catalog.apps.shop.v2', base]);
    await rm(path.join(base, '.pkgserver-pull.yaml'));
    await writeFile(path.join(root, `${target}.diff`), d.stdout);
    const applied = await run('git', ['apply', path.join(root, `${target}.diff`)], { cwd: base, env: gitEnv });
    t.is(applied.code, 0, applied.stderr);
    t.deepEqual(await tree(base), await tree(dir));

    // a stale push: someone else pushes after our pull; ours is refused, then --force overwrites
    const other = path.join(root, `other-${target}`);
    await ok(version, ['pull', rev, other]);
    await writeFile(path.join(other, 'shop.yaml'), (await readFile(path.join(other, 'shop.yaml'), 'utf8')).replace('replicas: 5', 'replicas: 7'));
    await ok(version, ['push', rev, other]);
    await writeFile(path.join(dir, 'shop.yaml'), (await readFile(path.join(dir, 'shop.yaml'), 'utf8')).replace('replicas: 5', 'replicas: 9'));
    const stale = await pkg(version, ['push', rev, dir]);
    t.is(stale.code, 1);
    t.regex(stale.stderr, /^error: .* changed on the server since it was pulled into .* \(resourceVersion \d+ then, \d+ now\): .* push --force to overwrite/m);
    noStack(t, stale.stderr);
    t.regex(await ok(version, ['push', rev, dir, '--force']), /changed +shop\.yaml/);
    const local = await tree(dir);

    // propose and approve (through the main resource with 1.27, the approval subresource with 1.33)
    t.is(await ok(version, ['propose', rev]), `${rev} proposed\n`);
    const approved = await pkg(version, ['approve', rev, ...(viaSubresource ? ['--subresource'] : [])]);
    t.is(approved.code, 0, approved.stderr);
    t.regex(approved.stderr, /publishing .*\.\.\./);
    t.regex(approved.stdout, new RegExp(`approved: published as v1 \\(tag ${target}/apps/shop/v1, commit [0-9a-f]{12}\\)`));

    // git: the tag holds exactly the pushed files
    const clone = path.join(root, `git-${target}`);
    const g = await run('git', ['clone', '--quiet', '--branch', `${target}/apps/shop/v1`, path.join(qs.dataDir, 'git', 'deploy.git'), clone], { env: gitEnv });
    t.is(g.code, 0, g.stderr);
    const inGit = await tree(path.join(clone, target, 'apps', 'shop'));
    t.deepEqual(inGit, local);
    t.deepEqual(Object.keys(inGit).sort(), ['Kptfile', 'config/settings.yaml', 'kustomization.yaml', 'shop.yaml', 'widget.yaml']);
    t.regex(inGit['shop.yaml'], /replicas: 9/);

    // a published revision: push is refused with the way forward
    const refused = await pkg(version, ['push', rev, dir]);
    t.is(refused.code, 1);
    t.regex(refused.stderr, /is published, and published revisions never change: make a new draft .* "kubectl pkg copy .* --workspace <new-workspace>"/);
    t.regex(await ok(version, ['copy', rev, '--workspace', 'ws2']), new RegExp(`${target}\\.deploy\\.apps\\.shop\\.ws2 created`));
    const diff2 = await pkg(version, ['diff', `${target}.deploy.apps.shop.ws2`]);
    t.regex(diff2.stderr, /with the latest published revision/);
    t.is(diff2.stdout, '', 'a copy of the latest published revision changes nothing');
    t.is(await ok(version, [version === '1.27' ? 'del' : 'delete', `${target}.deploy.apps.shop.ws2`]), `${target}.deploy.apps.shop.ws2 deleted\n`);

    // get: kubectl's columns; -o name; the server's errors as kubectl prints them
    const got = await ok(version, ['get', rev]);
    t.regex(got, /^NAME +REPOSITORY +TARGET +REALM +PACKAGE +WORKSPACE +REVISION +LIFECYCLE +READY +LATEST +AGE\n/);
    t.regex(got, new RegExp(`^${rev.replace(/\./g, '\\.')} +deploy +${target} +apps +shop +ws1 +v1 +published +True +true +\\S+$`, 'm'));
    t.is(await ok(version, ['get', rev, '-o', 'name']), `packagerevision.pkg.pkgserver.dev/${rev}\n`);
    const missing = await pkg(version, ['get', 'nope.deploy.apps.shop.ws1', '-o', 'yaml']);
    t.is(missing.code, 1);
    t.is(missing.stderr, 'Error from server (NotFound): packagerevisions.pkg.pkgserver.dev "nope.deploy.apps.shop.ws1" not found\n');
    const conflict = await pkg(version, ['clone', 'catalog.catalog.apps.shop.v2', rev]);
    t.is(conflict.code, 1);
    t.regex(conflict.stderr, /^Error from server \(AlreadyExists\): /);
    noStack(t, conflict.stderr);
  });
}

test('kubectl pkg honours --kubeconfig, --context and -n like kubectl', async (t) => {
  t.timeout(180_000);
  const { PATH } = pluginPath('1.33');
  const env = userEnv(PATH, '/nonexistent/kubeconfig', root);
  const r = await run(kubectlPath('1.33'), ['pkg', 'get', '--kubeconfig', qs.kubeconfig, '-o', 'name'], { env });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^packagerevision\.pkg\.pkgserver\.dev\/catalog\.catalog\.apps\.shop\.v2$/m);
  const ctx = await run(kubectlPath('1.33'), ['pkg', 'get', '--kubeconfig', qs.kubeconfig, '--context', 'nope'], { env });
  t.is(ctx.code, 1);
  t.is(ctx.stderr, 'error: context "nope" does not exist\n');
  const ns = await run(kubectlPath('1.33'), ['pkg', 'get', '--kubeconfig', qs.kubeconfig, '-n', 'empty'], { env });
  t.is(ns.code, 0);
  t.is(ns.stderr, 'No resources found in empty namespace.\n');
  const all = await run(kubectlPath('1.33'), ['pkg', 'get', '--kubeconfig', qs.kubeconfig, '-A'], { env });
  t.regex(all.stdout, /^NAMESPACE +NAME +REPOSITORY/);
  t.regex(all.stdout, /^default +catalog\.catalog\.apps\.shop\.v1 /m);
});

test('kubectl pkg upgrade --discover lists the packages and variants with a newer upstream, and upgrade makes the draft', async (t) => {
  t.timeout(180_000);
  const v = '1.33';
  const rev = 'old.deploy.apps.shop.ws1';
  await ok(v, ['clone', 'catalog.catalog.apps.shop.v1', rev]);
  await ok(v, ['propose', rev]);
  await ok(v, ['approve', rev]);
  // a PackageVariant pinned to v1, published by the approval controller
  const variant = {
    apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
    kind: 'PackageVariant',
    metadata: { name: 'shop-pinned', namespace: 'default' },
    spec: {
      upstream: { repository: 'catalog', realm: 'apps', package: 'shop', revision: 'v1' },
      downstream: { target: 'pinned', repository: 'deploy', realm: 'apps', package: 'shop' },
      packageContext: { readinessGates: [{ conditionType: 'pkg.pkgserver.dev/approve' }] },
    },
  };
  const { PATH } = pluginPath(v);
  const applied = await run(kubectlPath(v), ['apply', '-f', '-'], { env: userEnv(PATH, qs.kubeconfig, root), input: JSON.stringify(variant) });
  t.is(applied.code, 0, applied.stderr);
  const out = await poll(
    'both in upgrade --discover',
    async () => {
      const o = await ok(v, ['upgrade', '--discover']);
      return /^old\.deploy\.apps\.shop\.ws1 +catalog\/apps\/shop +v1 +v2 +<none>$/m.test(o) && /^pinned\.deploy\.apps\.shop\.pv-[0-9a-f]+ +catalog\/apps\/shop +v1 +v2 +shop-pinned$/m.test(o) ? o : undefined;
    },
    90_000,
    500,
  );
  t.regex(out, /^NAME +UPSTREAM +CURRENT +AVAILABLE +VARIANT$/m);
  t.notRegex(out, /c127|c133/, 'packages already at the newest upstream are not listed');
  const up = await pkg(v, ['upgrade', rev]);
  t.is(up.code, 0, up.stderr);
  t.regex(up.stdout, /^old\.deploy\.apps\.shop\.upgrade-v2 created \(upgrade to v2; draft\): Merged /);
  const d = await ok(v, ['diff', 'old.deploy.apps.shop.upgrade-v2']);
  t.regex(d, /^-          image: ghcr\.io\/example\/shop:2\.0\.0\n\+          image: ghcr\.io\/example\/shop:2\.1\.0$/m);
});

test('kubectl pkg deps prints the graph of the quickstart app; tree and -o dot', async (t) => {
  t.timeout(180_000);
  const v = '1.27';
  const text = await poll('the dependencies of the shop to be discovered', async () => {
    const o = await ok(v, ['deps', 'catalog.catalog.apps.shop.v2']);
    return o.includes('widget-operator') ? o : undefined;
  });
  t.is(
    text,
    [
      'catalog.catalog.apps.shop.v2 (catalog/apps/shop@v2, published)',
      '├─ catalog/platform/widget-crds * → v1   (for example.com/Widget)',
      '└─ catalog/platform/widget-operator * → v1   (for PackageDependency widget-operator)',
      '   └─ catalog/platform/widget-crds * → v1   (for example.com/Widget)',
      'core APIs: v1 Service, apps/v1 Deployment',
      '',
    ].join('\n'),
  );
  const crds = await ok(v, ['deps', 'catalog.catalog.platform.widget-crds.v1']);
  t.regex(crds, /needed by: .*catalog\.catalog\.platform\.widget-operator\.v1/);
  const dot = await ok(v, ['deps', 'catalog.catalog.apps.shop.v2', '-o', 'dot']);
  t.regex(dot, /^digraph dependencies \{/);
  t.true(dot.includes('"catalog/apps/shop@v2" -> "catalog/platform/widget-operator@v1" [label="*"];'));
  t.true(dot.includes('"catalog/platform/widget-operator@v1" -> "catalog/platform/widget-crds@v1" [label="*"];'));
  const tr = await ok(v, ['tree']);
  t.regex(tr, /^catalog\.catalog\.apps\.shop\.v2 \(catalog\/apps\/shop@v2\)\n├─ catalog\/platform\/widget-crds/);
});

test('kubectl pkg clone waits, with progress, while the upstream repository is still syncing', async (t) => {
  t.timeout(180_000);
  const gitRoot = path.join(qs.dataDir, 'git');
  for (const [from, to] of [
    ['catalog.git', 'sync-catalog.git'],
    ['deploy.git', 'sync-deploy.git'],
  ]) {
    const r = await run('git', ['clone', '--quiet', '--bare', path.join(gitRoot, from), path.join(gitRoot, to)], { env: gitEnv });
    t.is(r.code, 0, r.stderr);
  }
  const repo = (name: string, file: string, deployment: boolean) => ({
    apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
    kind: 'Repository',
    metadata: { name, namespace: 'sync-wait' },
    spec: { deployment, git: { url: path.join(gitRoot, file) } },
  });
  const { PATH } = pluginPath('1.33');
  const env = userEnv(PATH, qs.kubeconfig, root);
  const applied = await run(kubectlPath('1.33'), ['apply', '-f', '-'], { env, input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [repo('deploy', 'sync-deploy.git', true), repo('catalog', 'sync-catalog.git', false)] }) });
  t.is(applied.code, 0, applied.stderr);
  // straight after the Repository is created: the revision is not listed until the first sync
  const r = await run(kubectlPath('1.33'), ['pkg', 'clone', '-n', 'sync-wait', 'catalog.catalog.apps.shop.v2', 'w.deploy.apps.shop.ws1'], { env });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^w\.deploy\.apps\.shop\.ws1 created \(clone of catalog\/apps\/shop@v2/);
  t.log(r.stderr || '(synced before the clone asked)');
  const missing = await run(kubectlPath('1.33'), ['pkg', 'clone', '-n', 'sync-wait', 'catalog.catalog.apps.nope.v1', 'w.deploy.apps.nope.ws1'], { env });
  t.is(missing.code, 1);
  t.is(missing.stderr, 'Error from server (NotFound): packagerevisions.pkg.pkgserver.dev "catalog.catalog.apps.nope.v1" not found\n');
  // a repository that cannot sync: no waiting, the reason instead
  const broken = await run(kubectlPath('1.33'), ['apply', '-f', '-'], { env, input: JSON.stringify(repo('broken', 'missing.git', false)) });
  t.is(broken.code, 0, broken.stderr);
  const r2 = await run(kubectlPath('1.33'), ['pkg', 'clone', '-n', 'sync-wait', 'catalog.broken.apps.shop.v1', 'w.deploy.apps.shop.ws2'], { env });
  t.is(r2.code, 1);
  t.regex(r2.stderr, /^Error from server \(NotFound\): packagerevisions\.pkg\.pkgserver\.dev "catalog\.broken\.apps\.shop\.v1" not found \(repository broken is not ready: .*not a bare git repository/m);
});

test('every kubectl pkg command has --help with examples; unknown commands and bad flags are errors', async (t) => {
  t.timeout(180_000);
  for (const c of COMMANDS) {
    const r = await pkg('1.33', [c.name, '--help']);
    t.is(r.code, 0, c.name);
    t.regex(r.stdout, /\nExamples:\n  kubectl pkg /, c.name);
    t.regex(r.stdout, new RegExp(`Usage:\\n  kubectl pkg ${c.name} `), c.name);
  }
  const top = await pkg('1.33', ['--help']);
  t.regex(top.stdout, /^Commands:$/m);
  const bad = await pkg('1.33', ['frobnicate']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /^error: unknown command "frobnicate" for "kubectl pkg"/);
  const flag = await pkg('1.33', ['pull', '--bogus']);
  t.is(flag.code, 1);
  t.regex(flag.stderr, /^error: Unknown option '--bogus'/);
  const args = await pkg('1.33', ['pull', 'x']);
  t.is(args.code, 1);
  t.regex(args.stderr, /takes 2 arguments: REV DIR/);
});

test('pull never writes outside its directory', (t) => {
  const dir = '/tmp/somewhere';
  t.is(safeJoin(dir, 'a/b.yaml'), '/tmp/somewhere/a/b.yaml');
  for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', './a', 'a/..', '.pkgserver-pull.yaml', ''])
    t.throws(() => safeJoin(dir, bad), { message: /refusing the file/ }, bad);
});
