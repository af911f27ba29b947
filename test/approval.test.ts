// The approval controller end to end (real server with its controllers, real git, kubectl 1.33):
// a revision with the gate pkg.pkgserver.dev/approve is proposed and published by the controller's
// own user; with another gate pending it waits, then publishes when that gate turns True; where
// the policy does not let the controller approve (the policy file narrowed to one namespace, as
// docs/security.md shows) nothing is published and the condition says Forbidden; a repository
// that requires a distinct approver refuses it too. Events tell each step.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_POLICY, EXAMPLE_ROLES } from '../src/apiserver/authz/policyfile.ts';
import { git } from './helpers/gitserver.ts';
import { HttpClient } from './helpers/http.ts';
import { Kubectl } from './helpers/kubectl.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';

const GATE = 'pkg.pkgserver.dev/approve';
const CONTROLLER = 'system:pkgserver:controller:approval';
const MERGE = 'application/merge-patch+json';

let server: ServerHandle;
let admin: HttpClient;
let k: Kubectl;
let policyFile: string;
let gitDir: string;

const pr = (ns: string) => `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${ns}/packagerevisions`;
const condition = (o: any, type: string) => (o.status?.conditions ?? []).find((c: any) => c.type === type);

/** The default policy with auto-approval allowed in `namespaces` only (RoleBindings instead of its ClusterRoleBinding), as docs/security.md shows. */
function narrowed(namespaces: string[]): string {
  const docs = DEFAULT_POLICY.split('\n---\n').filter((d) => !(d.includes('kind: ClusterRoleBinding') && d.includes('name: system:pkgserver:auto-approve')));
  const bindings = namespaces.map(
    (ns) => `apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: auto-approve, namespace: ${ns}}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:pkgserver:auto-approve}\nsubjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "${CONTROLLER}"}]\n`,
  );
  return [...docs, EXAMPLE_ROLES, ...bindings].join('\n---\n');
}

async function repository(ns: string, name: string, distinct = false): Promise<void> {
  await git(gitDir, 'init', '-q', '--bare', '-b', 'main', `${ns}-${name}.git`);
  const r = await admin.post(`/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${ns}/repositories`, {
    apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
    kind: 'Repository',
    metadata: { name },
    spec: { deployment: true, git: { url: path.join(gitDir, `${ns}-${name}.git`) }, approval: { requireDistinctApprover: distinct } },
  });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
}

async function draft(ns: string, repo: string, pkg: string, gates: string[]): Promise<string> {
  const name = `c1.${repo}..${pkg}.ws`;
  const r = await admin.post(pr(ns), {
    apiVersion: 'pkg.pkgserver.dev/v1alpha1',
    kind: 'PackageRevision',
    metadata: { name },
    spec: { packageRevID: { target: 'c1', repository: repo, package: pkg, workspace: 'ws' }, tasks: [{ type: 'init' }], readinessGates: gates.map((conditionType) => ({ conditionType })) },
  });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  return name;
}

const get = async (ns: string, name: string) => (await admin.get(`${pr(ns)}/${name}`)).body;
const gateIs = (ns: string, name: string, status: string, reason: string) =>
  poll(`${name}: gate ${status}/${reason}`, async () => {
    const o = await get(ns, name);
    const c = condition(o, GATE);
    return c?.status === status && c.reason === reason ? o : undefined;
  });

test.before(async () => {
  gitDir = tempDir('approval-git-');
  policyFile = path.join(tempDir('approval-policy-'), 'policy.yaml');
  writeFileSync(policyFile, `${DEFAULT_POLICY}\n---\n${EXAMPLE_ROLES}`);
  server = await startServer({ controllers: true, args: ['--authorization-policy-file', policyFile] });
  admin = new HttpClient(server.url, adminTLS(server));
  k = new Kubectl('1.33', server.kubeconfig);
  for (const ns of ['team-a', 'team-b']) await repository(ns, 'deploy');
  await repository('team-a', 'strict', true);
});
test.after.always(async () => {
  await server?.stop();
});

test.serial('a revision with the approve gate is proposed and published by the controller, through the same checks as a person', async (t) => {
  const name = await draft('team-a', 'deploy', 'web', [GATE]);
  const o = await gateIs('team-a', name, 'True', 'Published');
  t.is(o.spec.lifecycle, 'published');
  t.is(o.spec.packageRevID.revision, 'v1');
  t.is(o.status.publishedBy, CONTROLLER);
  // its writes are recorded under its own field manager
  t.true(o.metadata.managedFields.some((e: any) => e.manager === 'pkgserver-approval-controller' && e.fieldsV1?.['f:spec']?.['f:lifecycle']), JSON.stringify(o.metadata.managedFields));
  t.is(o.metadata.annotations['pkg.pkgserver.dev/proposed-by'], CONTROLLER);
  t.is((await git(path.join(gitDir, 'team-a-deploy.git'), 'tag', '-l')).trim(), 'c1/web/v1');
  const described = await poll('the events in describe', async () => {
    const out = await k.ok(['describe', 'pkgrev', name, '-n', 'team-a']);
    return /Published/.test(out) && /Proposed/.test(out) ? out : undefined;
  });
  t.regex(described, /Normal\s+Proposed\s+\S+\s+pkgserver\s+proposed by the approval controller/);
  t.regex(described, /Normal\s+Published\s+\S+\s+pkgserver\s+published as v1 by system:pkgserver:controller:approval/);
  t.regex(await k.ok(['events', '-n', 'team-a', '--for', `packagerevision/${name}`]), /Published/);
});

test.serial('with another gate pending the controller waits, and publishes when it turns True', async (t) => {
  const name = await draft('team-a', 'deploy', 'api', ['example.com/tested', GATE]);
  const waiting = await gateIs('team-a', name, 'False', 'Waiting');
  t.is(condition(waiting, GATE).message, 'waiting for gate example.com/tested (not set)');
  t.is(waiting.spec.lifecycle, 'draft');
  const conditions = [...(waiting.status.conditions ?? []), { type: 'example.com/tested', status: 'True', reason: 'Passed', message: 'ok', lastTransitionTime: '2026-11-26T00:00:00Z' }];
  t.is((await admin.patch(`${pr('team-a')}/${name}/status`, { status: { conditions } }, MERGE)).status, 200);
  const done = await gateIs('team-a', name, 'True', 'Published');
  t.is(done.spec.lifecycle, 'published');
});

test.serial('a repository requiring a distinct approver refuses the controller that proposed', async (t) => {
  const name = await draft('team-a', 'strict', 'svc', [GATE]);
  const o = await gateIs('team-a', name, 'False', 'Refused');
  t.is(o.spec.lifecycle, 'proposed');
  t.regex(condition(o, GATE).message, /requires a distinct approver: user "system:pkgserver:controller:approval" proposed this revision/);
});

test.serial('a policy that does not let the controller approve in a namespace: nothing is published there, the condition says Forbidden', async (t) => {
  writeFileSync(policyFile, narrowed(['team-a']));
  // the policy file is re-read; wait until it applies (the controller may no longer approve in team-b)
  await poll('the narrowed policy', async () => {
    const r = await admin.post('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace: 'team-b', verb: 'approve', group: 'pkg.pkgserver.dev', resource: 'packagerevisions' } } }, { headers: { 'Impersonate-User': CONTROLLER } });
    return r.body.status?.allowed === false ? true : undefined;
  });
  const denied = await draft('team-b', 'deploy', 'web', [GATE]);
  const o = await gateIs('team-b', denied, 'False', 'Forbidden');
  t.is(o.spec.lifecycle, 'proposed', 'proposing is an update, which it may do; publishing is refused');
  t.is(condition(o, GATE).message, `packagerevisions.pkg.pkgserver.dev "${denied}" is forbidden: User "${CONTROLLER}" cannot approve resource "packagerevisions" in API group "pkg.pkgserver.dev" in the namespace "team-b"`);
  t.is((await git(path.join(gitDir, 'team-b-deploy.git'), 'tag', '-l')).trim(), '', 'nothing published in git');
  t.regex(await k.ok(['describe', 'pkgrev', denied, '-n', 'team-b']), /Warning\s+ApprovalForbidden/);
  // still allowed where it is bound
  const allowed = await draft('team-a', 'deploy', 'worker', [GATE]);
  t.is((await gateIs('team-a', allowed, 'True', 'Published')).spec.lifecycle, 'published');
});
