// kubectl's own authorization commands against the standalone server, with every kubectl from
// 1.27 to 1.33: `auth can-i` (create, the custom verb approve, --subresource, --list; JSON bodies
// up to 1.31, protobuf from 1.32), `auth whoami`, and `--as` impersonation (allowed for the
// admin, 403 for a user without the impersonate verb).
import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Kubectl, KUBECTL_VERSIONS } from './helpers/kubectl.ts';
import { startServer, tempDir, type ServerHandle } from './helpers/server.ts';
import { policy, userOf, type TestUser } from './helpers/users.ts';

const NS = 'team-a';
let server: ServerHandle;
let viewer: TestUser;
let editor: TestUser;
let approver: TestUser;
let user2: TestUser;

test.before(async () => {
  const dir = tempDir('kauth-');
  const file = path.join(dir, 'policy.yaml');
  writeFileSync(
    file,
    policy([
      { user: 'viewer', role: 'pkgserver-viewer', namespace: NS },
      { user: 'editor', role: 'pkgserver-editor', namespace: NS },
      { user: 'approver', role: 'pkgserver-approver', namespace: NS },
    ]),
  );
  server = await startServer({ args: ['--authorization-policy-file', file] });
  viewer = userOf(server, 'viewer', ['devs']);
  editor = userOf(server, 'editor', ['devs']);
  approver = userOf(server, 'approver', ['devs', 'leads']);
  user2 = userOf(server, 'user-2', ['devs']);
});
test.after.always(async () => {
  await server?.stop();
});

/** `kubectl auth can-i …` → [stdout trimmed, exit code]; kubectl exits 1 for "no". */
async function canI(k: Kubectl, args: string[]): Promise<[string, number]> {
  const r = await k.run(['auth', 'can-i', ...args, '-n', NS]);
  return [r.stdout.trim(), r.code];
}

for (const v of KUBECTL_VERSIONS) {
  test(`kubectl ${v}: auth can-i answers from the policy (create, approve, --subresource)`, async (t) => {
    const as = (u: TestUser) => new Kubectl(v, u.kubeconfig);
    t.deepEqual(await canI(as(editor), ['create', 'packagerevisions']), ['yes', 0]);
    t.deepEqual(await canI(as(viewer), ['create', 'packagerevisions']), ['no', 1]);
    t.deepEqual(await canI(as(viewer), ['list', 'pkgrev']), ['yes', 0]);
    t.deepEqual(await canI(as(approver), ['approve', 'packagerevisions']), ['yes', 0]);
    t.deepEqual(await canI(as(editor), ['approve', 'packagerevisions']), ['no', 1]);
    t.deepEqual(await canI(as(approver), ['update', 'packagerevisions', '--subresource=approval']), ['yes', 0]);
    t.deepEqual(await canI(as(editor), ['update', 'packagerevisions', '--subresource=approval']), ['no', 1]);
    t.deepEqual(await canI(as(editor), ['patch', 'packagerevisions', '--subresource=status']), ['no', 1]);
    t.deepEqual(await canI(as(viewer), ['get', '/metrics']).then(([o, c]) => [o, c]), ['no', 1]);
    t.deepEqual(await canI(new Kubectl(v, server.kubeconfig), ['get', '/metrics']), ['yes', 0]);
    // in another namespace the editor has no binding
    const other = await as(editor).run(['auth', 'can-i', 'create', 'packagerevisions', '-n', 'team-b']);
    t.is(other.stdout.trim(), 'no');
  });

  test(`kubectl ${v}: auth can-i --list shows the rules that apply`, async (t) => {
    const r = await new Kubectl(v, editor.kubeconfig).run(['auth', 'can-i', '--list', '-n', NS]);
    t.is(r.code, 0, r.stderr);
    const rows = r.stdout.split('\n').map((l) => l.trim().split(/\s{2,}/));
    t.deepEqual(rows[0], ['Resources', 'Non-Resource URLs', 'Resource Names', 'Verbs']);
    const row = (res: string) => rows.filter((x) => x[0] === res).map((x) => x[3]);
    // kubectl merges the verbs of rules for the same resources
    t.deepEqual(row('packagerevisions.pkg.pkgserver.dev'), ['[get list watch create update patch delete]'], r.stdout);
    t.deepEqual(row('packagerevisionresources.pkg.pkgserver.dev'), ['[get list watch update patch]'], r.stdout);
    t.deepEqual(row('repositories.config.pkg.pkgserver.dev'), ['[get list watch]'], r.stdout);
    t.deepEqual(row('packagerevisions.pkg.pkgserver.dev/status'), ['[get]'], r.stdout);
    t.deepEqual(row('selfsubjectaccessreviews.authorization.k8s.io'), ['[create]'], r.stdout);
    t.deepEqual(rows.find((x) => x[0] === '[/apis/*]'), ['[/apis/*]', '[]', '[get]'], 'a non-resource rule (its Resources column is empty)');
    t.false(r.stdout.includes('approve'), 'the editor has no approve rule');
  });

  test(`kubectl ${v}: the self reviews are in discovery`, async (t) => {
    const r = await new Kubectl(v, viewer.kubeconfig).run(['api-resources', '--api-group=authorization.k8s.io', '-o', 'name']);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(r.stdout.trim().split('\n').sort(), ['selfsubjectaccessreviews.authorization.k8s.io', 'selfsubjectrulesreviews.authorization.k8s.io']);
  });

  test(`kubectl ${v}: auth whoami`, async (t) => {
    const r = await new Kubectl(v, approver.kubeconfig).run(['auth', 'whoami']);
    t.is(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
    t.deepEqual(lines, [
      ['ATTRIBUTE', 'VALUE'],
      ['Username', 'approver'],
      ['Groups', '[devs leads system:authenticated]'],
    ]);
  });

  test(`kubectl ${v}: --as impersonates for the admin and is refused to user-2`, async (t) => {
    const admin = new Kubectl(v, server.kubeconfig);
    const who = await admin.run(['auth', 'whoami', '--as=user-2', '--as-group=devs', '-o', 'jsonpath={.status.userInfo.username} {.status.userInfo.groups}']);
    t.is(who.code, 0, who.stderr);
    t.is(who.stdout, 'user-2 ["devs","system:authenticated"]');
    // the request then runs with user-2's rights: none in team-a
    const get = await admin.run(['get', 'pkgrev', '-n', NS, '--as=user-2']);
    t.is(get.code, 1);
    t.regex(get.stderr, /Error from server \(Forbidden\): packagerevisions\.pkg\.pkgserver\.dev is forbidden: User "user-2" cannot list resource "packagerevisions" in API group "pkg\.pkgserver\.dev" in the namespace "team-a"/);
    // user-2 may not impersonate anyone. (With an empty discovery cache kubectl's discovery would
    // fail first, and client-go reports a discovery failure without the Status message, as it
    // does against kube-apiserver; so discovery is cached first, as user-2.)
    const k2 = new Kubectl(v, user2.kubeconfig);
    t.is((await k2.run(['get', 'pkgrev', '-n', NS])).code, 1);
    const refused = await k2.run(['get', 'pkgrev', '-n', NS, '--as=admin', '--as-group=system:masters']);
    t.is(refused.code, 1);
    t.regex(refused.stderr, /Error from server \(Forbidden\): users "admin" is forbidden: User "user-2" cannot impersonate resource "users" in API group "" at the cluster scope/);
  });
}
