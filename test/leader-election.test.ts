// --leader-elect on a standalone server: the controllers run while it holds the Lease
// kube-system/pkgserver-controllers, which it serves itself (coordination.k8s.io/v1, as kubectl
// sees it), /readyz reports the lease, /metrics kube's leader_election_master_status; on SIGTERM it
// releases the Lease. Several replicas sharing one store: test/ha*.test.ts (etcd).
import test from 'ava';
import { HttpClient } from './helpers/http.ts';
import { Kubectl } from './helpers/kubectl.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer } from './helpers/server.ts';

const ARGS = ['--leader-elect', 'true', '--leader-elect-lease-duration', '6s', '--leader-elect-renew-deadline', '4s', '--leader-elect-retry-period', '500ms'];

test('a standalone server with --leader-elect holds its Lease, runs its controllers, and releases the Lease when it stops', async (t) => {
  const server = await startServer({ controllers: true, args: ARGS });
  t.teardown(() => server.stop());
  const k = new Kubectl('1.33', server.kubeconfig);
  const holder = await poll('the Lease names a holder', async () => {
    const r = await k.run(['get', 'lease', '-n', 'kube-system', 'pkgserver-controllers', '-o', 'jsonpath={.spec.holderIdentity}']);
    return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
  });
  t.regex(holder, /^[^_]+_[0-9a-f-]{36}$/, 'hostname_uuid, as kube');
  t.regex(await k.ok(['get', 'leases', '-n', 'kube-system']), /^NAME\s+HOLDER\s+AGE\npkgserver-controllers\s+\S+_[0-9a-f-]{36}\s+\S+$/m);
  const spec = JSON.parse(await k.ok(['get', 'lease', '-n', 'kube-system', 'pkgserver-controllers', '-o', 'jsonpath={.spec}']));
  t.is(spec.leaseDurationSeconds, 6);
  // renewed: renewTime moves
  await poll('the Lease is renewed', async () => {
    const again = JSON.parse(await k.ok(['get', 'lease', '-n', 'kube-system', 'pkgserver-controllers', '-o', 'jsonpath={.spec}']));
    return again.renewTime !== spec.renewTime ? true : undefined;
  });

  const http = new HttpClient(server.url, adminTLS(server));
  const ready = await http.request('GET', '/readyz?verbose');
  t.is(ready.status, 200);
  t.regex(String(ready.body), /\[\+\]leader-election ok/);
  t.regex(String(ready.body), /\[\+\]controllers ok/);
  t.regex(String((await http.request("GET", "/metrics")).body), /^leader_election_master_status\{name="kube-system\/pkgserver-controllers"\} 1$/m);

  // the controllers run: the repository controller reports an unreachable remote
  await k.ok(['create', 'namespace', 'le']);
  await k.ok(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name: 'gone', namespace: 'le' }, spec: { git: { url: 'https://127.0.0.1:1/gone.git' } } }),
  });
  await poll('the Repository is reconciled', async () => {
    const r = await k.run(['get', 'repository', '-n', 'le', 'gone', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
    return r.stdout.trim() === 'False' ? true : undefined;
  }, 60_000);

  // SIGTERM: the Lease is released (no holder), so another replica need not wait for it to expire
  const dataDir = server.dataDir;
  await server.stop();
  const again = await startServer({ dataDir, controllers: false, args: ARGS });
  t.teardown(() => again.stop());
  const released = JSON.parse(await new Kubectl('1.33', again.kubeconfig).ok(['get', 'lease', '-n', 'kube-system', 'pkgserver-controllers', '-o', 'jsonpath={.spec}']));
  t.is(released.holderIdentity ?? '', '');
  t.is(released.leaseDurationSeconds, 1);
});

test('serve refuses leader election settings kube would refuse', async (t) => {
  for (const [args, message] of [
    [['--leader-elect', 'yes'], /--leader-elect must be true or false/],
    [['--leader-elect', 'true', '--leader-elect-lease-duration', '5s', '--leader-elect-renew-deadline', '5s'], /lease-duration must be greater than/],
    [['--leader-elect', 'true', '--leader-elect-renew-deadline', '2s', '--leader-elect-retry-period', '2s'], /renew-deadline must be greater than 1\.2/],
  ] as const) {
    const err = await t.throwsAsync(startServer({ args: [...args] }));
    t.regex(err!.message, message);
  }
});
