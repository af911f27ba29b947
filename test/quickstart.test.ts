// `pkgserver quickstart` on an empty directory: ready ("serving, catalog synced") within a bound,
// every command it prints succeeds when run as printed, docs/cli.md's walk-through runs block by
// block against it, and a second run over the same directory reuses everything. The README's
// walk-through uses the quickstart.
import test from 'ava';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pluginPath, run, startQuickstart, userEnv, READY, type Quickstart } from './helpers/quickstart.ts';
import { ROOT, tempDir } from './helpers/server.ts';

const root = tempDir('quickstart-');
const dataDir = path.join(root, 'qs');
let qs: Quickstart | undefined;

test.after.always(async () => {
  await qs?.stop();
  await rm(root, { recursive: true, force: true });
});

test.serial('pkgserver quickstart on an empty directory serves a synced catalog, and every command it prints succeeds', async (t) => {
  t.timeout(240_000);
  qs = await startQuickstart(dataDir);
  t.log(`ready after ${qs.readyAfterMs} ms`);
  t.true(qs.readyAfterMs < 60_000, `ready after ${qs.readyAfterMs} ms`);
  t.true(qs.lines.some((l) => l.startsWith(`${READY} (https://127.0.0.1:`)));
  t.true(qs.lines.includes(`created ${dataDir}/git/catalog.git: widget-crds, widget-operator, shop (v1, v2)`));

  // the five commands, each after its comment, and the export before them
  const commands = qs.tryLines.filter((l) => !l.startsWith('#'));
  t.is(commands[0], `export KUBECONFIG=${dataDir}/server/kubeconfig`);
  t.is(qs.tryLines.filter((l) => /^# \d\. /.test(l)).length, 5);
  t.is(commands.length, 6);

  // run them as a user would, one after the other, in a shell with the plugin and kubectl on PATH
  const { PATH } = pluginPath('1.33');
  const home = tempDir('quickstart-home-');
  const env = { ...userEnv(PATH, '', home) };
  delete env.KUBECONFIG; // the printed export sets it
  const outputs: string[] = [];
  for (let i = 1; i < commands.length; i++) {
    const r = await run('sh', ['-ec', `${commands[0]}\n${commands[i]}`], { cwd: home, env, timeoutMs: 120_000 });
    t.is(r.code, 0, `${commands[i]}\n${r.stderr}${r.stdout}`);
    outputs.push(r.stdout + r.stderr);
  }
  t.regex(outputs[0], /^catalog\.catalog\.apps\.shop\.v2 +catalog +catalog +apps +shop +v2 +v2 +published +True +true /m);
  t.regex(outputs[0], /^catalog\.catalog\.platform\.widget-crds\.v1 /m);
  t.regex(outputs[1], /^cluster01\.deploy\.apps\.shop\.ws1 created \(clone of catalog\/apps\/shop@v2; draft/m);
  t.regex(outputs[2], /pulled cluster01\.deploy\.apps\.shop\.ws1 \(5 files/);
  t.regex(outputs[2], /catalog\/platform\/widget-operator \* → v1 .*\[not on cluster01\]/);
  t.regex(outputs[3], /cluster01\.deploy\.apps\.shop\.ws1 approved: published as v1 \(tag cluster01\/apps\/shop\/v1/);
  t.regex(outputs[4], /\(HEAD -> main, tag: cluster01\/apps\/shop\/v1\) Publish shop v1/);
  const fetched = (await readdir(path.join(dataDir, 'try', 'shop-v1'))).sort();
  t.deepEqual(fetched, ['Kptfile', 'README.md', 'kustomization.yaml', 'shop.yaml', 'widget.yaml']);
  // kpt adds its merge marks (a comment and an annotation); the content is the pulled one
  const kptShop = await readFile(path.join(dataDir, 'try', 'shop-v1', 'shop.yaml'), 'utf8');
  const unmarked = kptShop.replace(/ # kpt-merge: \S+/g, '').replace(/\n {2}annotations:\n {4}internal\.kpt\.dev\/upstream-identifier: .*/g, '');
  t.is(unmarked, await readFile(path.join(dataDir, 'try', 'shop', 'shop.yaml'), 'utf8'));
});

test.serial("docs/cli.md's walk-through runs block by block against the quickstart", async (t) => {
  t.timeout(300_000);
  if (!qs) return t.fail('the quickstart did not start');
  const doc = await readFile(path.join(ROOT, 'docs/cli.md'), 'utf8');
  const blocks = [...doc.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  t.true(blocks.length >= 8, `${blocks.length} sh blocks`);
  const { PATH } = pluginPath('1.27');
  const cwd = path.join(root, 'walk');
  await mkdir(cwd);
  const env = { ...userEnv(PATH, qs.kubeconfig, tempDir('walk-home-')), QUICKSTART: dataDir };
  const out: string[] = [];
  for (const block of blocks) {
    const r = await run('sh', ['-ec', block], { cwd, env, timeoutMs: 120_000 });
    t.is(r.code, 0, `block:\n${block}\n${r.stderr}${r.stdout}`);
    if (r.code !== 0) return;
    out.push(r.stdout + r.stderr);
  }
  const all = out.join('\n');
  t.regex(all, /changed on the server since it was pulled/, 'the stale push is refused');
  t.regex(all, /published revisions never change/);
  t.regex(all, /staging\.deploy\.apps\.shop\.upgrade-v2 approved: published as v2/);
  // git: v2 of staging carries the local edit and the upstream's new image; v1's tag is gone
  const refs = await run('git', ['ls-remote', '--tags', path.join(dataDir, 'git', 'deploy.git')], { env: { PATH: process.env.PATH } });
  t.regex(refs.stdout, /refs\/tags\/staging\/apps\/shop\/v2$/m);
  t.notRegex(refs.stdout, /refs\/tags\/staging\/apps\/shop\/v1$/m);
  const shop = await run('git', ['--git-dir', path.join(dataDir, 'git', 'deploy.git'), 'show', 'staging/apps/shop/v2:staging/apps/shop/shop.yaml'], { env: { PATH: process.env.PATH } });
  t.regex(shop.stdout, /replicas: 4/);
  t.regex(shop.stdout, /image: ghcr\.io\/example\/shop:2\.1\.0/);
});

test.serial('a second quickstart over the same directory reuses the repositories and the store', async (t) => {
  t.timeout(180_000);
  if (!qs) return t.fail('the quickstart did not start');
  await qs.stop();
  qs = await startQuickstart(dataDir);
  t.true(qs.lines.includes(`reusing ${dataDir}/git/catalog.git`));
  t.true(qs.lines.includes(`reusing ${dataDir}/git/deploy.git`));
  t.false(qs.lines.some((l) => l.startsWith('registered Repository')), 'the Repositories are in the store already');
  const { PATH } = pluginPath('1.33');
  const r = await run('kubectl', ['pkg', 'get', '-o', 'name'], { env: userEnv(PATH, qs.kubeconfig, root) });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^packagerevision\.pkg\.pkgserver\.dev\/cluster01\.deploy\.apps\.shop\.ws1$/m);
});

test('the README starts with the quickstart and its walk-through uses it, not a remote that does not exist', async (t) => {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const first = /```sh\n([\s\S]*?)```/.exec(readme)![1];
  t.regex(first, /npx pkgserver quickstart/);
  t.false(readme.includes('git.example.com'));
  t.regex(readme, /docs\/cli\.md/);
  const help = await run(process.execPath, [path.join(ROOT, 'bin/pkgserver.js'), 'quickstart', '--help'], { env: process.env });
  t.is(help.code, 0);
  t.regex(help.stdout, /^Usage: pkgserver quickstart \[serve flags\]/);
  t.regex(help.stdout, /\nExample:\n  npx pkgserver quickstart /);
  const top = await run(process.execPath, [path.join(ROOT, 'bin/pkgserver.js'), '--help'], { env: process.env });
  t.regex(top.stdout, /^ {2}quickstart {2}make a local catalog and deployment repository, serve them/m);
});
