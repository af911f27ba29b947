// The README's first command and the CLI: `npm start` serves with its embedded defaults and
// prints how to reach it; `npx pkgserver certs` writes the PKI for other names.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { Kubectl } from './helpers/kubectl.ts';
import { ROOT, startServer, tempDir } from './helpers/server.ts';

const run = promisify(execFile);

test('npm start serves on the embedded defaults and logs a kubectl command that works', async (t) => {
  const dataDir = tempDir();
  const child = spawn('npm', ['start', '--', '--data-dir', dataDir, '--secure-port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const lines: string[] = [];
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ready line in 60s')), 60_000);
      createInterface({ input: child.stdout! }).on('line', (l) => {
        lines.push(l);
        if (l.includes('pkgserver is serving')) {
          clearTimeout(timer);
          resolve(l);
        }
      });
    });
    const msg = JSON.parse(line).msg as string;
    const kubeconfig = path.join(dataDir, 'kubeconfig');
    t.true(msg.includes(`kubectl --kubeconfig ${kubeconfig} get packagerevisions -A`), msg);
    t.true(existsSync(path.join(dataDir, 'store.db')));
    const k = new Kubectl('1.33', kubeconfig);
    t.is((await k.run(['get', 'packagerevisions', '-A'])).code, 0);
    t.regex(await k.ok(['api-resources', '--api-group=pkg.pkgserver.dev']), /^packagerevisions\s+pkgrev,pr\s+pkg\.pkgserver\.dev\/v1alpha1\s+true\s+PackageRevision$/m);
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
  }
  // npm and the server share the stdout pipe: it ends when both have exited
  if (!child.stdout!.readableEnded) await new Promise<void>((r) => child.stdout!.once('end', () => r()));
  t.true(lines.some((l) => l.includes('"msg":"shutting down"')), 'SIGTERM is a clean shutdown');
});

test('pkgserver certs writes the PKI, a kubeconfig and the APIService caBundle for a service name', async (t) => {
  const out = tempDir('certs-');
  await run('npx', ['pkgserver', 'certs', '--out', out, '--dns-name', 'pkgserver.pkgserver-system.svc', '--server', 'https://pkgserver.example:443'], { cwd: ROOT });
  const serving = new X509Certificate(readFileSync(path.join(out, 'serving.crt')));
  t.true(serving.subjectAltName!.includes('DNS:pkgserver.pkgserver-system.svc'));
  t.true(serving.checkIssued(new X509Certificate(readFileSync(path.join(out, 'ca.crt')))));
  t.is(Buffer.from(readFileSync(path.join(out, 'ca-bundle.txt'), 'utf8').trim(), 'base64').toString(), readFileSync(path.join(out, 'ca.crt'), 'utf8'));
  t.regex(readFileSync(path.join(out, 'kubeconfig'), 'utf8'), /server: https:\/\/pkgserver\.example:443/);
  const { stdout } = await run('npx', ['pkgserver', 'version'], { cwd: ROOT });
  t.is(stdout.trim(), JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
});

test('pkgserver certs --user writes a person\'s certificate and kubeconfig from a running server\'s CA, touching nothing else', async (t) => {
  const server = await startServer({});
  t.teardown(() => server.stop());
  const pki = path.join(server.dataDir, 'pki');
  const before = ['ca.crt', 'ca.key', 'serving.crt', 'serving.key', 'admin.crt'].map((f) => readFileSync(path.join(pki, f), 'utf8'));
  await run('npx', ['pkgserver', 'certs', '--out', pki, '--user', 'alice', '--group', 'team-a', '--group', 'devs', '--server', server.url], { cwd: ROOT });
  t.deepEqual(['ca.crt', 'ca.key', 'serving.crt', 'serving.key', 'admin.crt'].map((f) => readFileSync(path.join(pki, f), 'utf8')), before);
  const who = await new Kubectl('1.33', path.join(pki, 'alice.kubeconfig')).ok(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username} {.status.userInfo.groups}']);
  t.is(who, 'alice ["team-a","devs","system:authenticated"]');
  // the default policy gives alice discovery and nothing else
  const r = await new Kubectl('1.33', path.join(pki, 'alice.kubeconfig')).run(['get', 'pkgrev', '-n', 'team-a']);
  t.is(r.code, 1);
  t.regex(r.stderr, /User "alice" cannot list resource "packagerevisions"/);
  const missing = await run('npx', ['pkgserver', 'certs', '--out', tempDir('empty-'), '--user', 'bob'], { cwd: ROOT }).catch((e) => e);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /no ca\.crt and ca\.key in/);
});
