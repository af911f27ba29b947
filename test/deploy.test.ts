// The install kustomization (deploy/): `pkgserver certs` into a copy of it, then the real
// `kubectl kustomize` of kubectl 1.27 and 1.33 renders it; every object of the install is checked,
// and the caBundle and serving Secret are checked against the generated PKI.
import test from 'ava';
import { DEFAULT_POLICY, parsePolicy } from '../src/apiserver/authz/policyfile.ts';
import { execFile } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { cp, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { kubectlPath, type KubectlVersion } from './helpers/kubectl.ts';
import { ROOT, tempDir } from './helpers/server.ts';

const run = promisify(execFile);
const VERSIONS: KubectlVersion[] = ['1.27', '1.33'];
const NS = 'pkgserver-system';
const DNS_NAME = 'pkgserver.pkgserver-system.svc';
const SA_SUBJECT = [{ kind: 'ServiceAccount', name: 'pkgserver', namespace: NS }];

type Obj = Record<string, any>;

const work = tempDir('pkgserver-deploy-');
const deployDir = path.join(work, 'deploy');
const pkiDir = path.join(deployDir, 'pki');
const rendered = new Map<KubectlVersion, { text: string; objects: Obj[] }>();
const pki: Record<'caCrt' | 'caKey' | 'servingCrt' | 'servingKey' | 'adminKey', string> = { caCrt: '', caKey: '', servingCrt: '', servingKey: '', adminKey: '' };

async function kustomize(v: KubectlVersion, dir: string) {
  return run(kubectlPath(v), ['kustomize', dir], { maxBuffer: 16 << 20 });
}

test.before(async () => {
  // a copy of deploy/ without any pki/ a developer may have generated in the work tree
  await cp(path.join(ROOT, 'deploy'), deployDir, { recursive: true, filter: (src) => path.relative(path.join(ROOT, 'deploy'), src) !== 'pki' });
  await run(process.execPath, [path.join(ROOT, 'bin/pkgserver.js'), 'certs', '--out', pkiDir, '--dns-name', DNS_NAME], { cwd: work });
  const read = (f: string) => readFile(path.join(pkiDir, f), 'utf8');
  [pki.caCrt, pki.caKey, pki.servingCrt, pki.servingKey, pki.adminKey] = await Promise.all(['ca.crt', 'ca.key', 'serving.crt', 'serving.key', 'admin.key'].map(read));
  for (const v of VERSIONS) {
    const { stdout } = await kustomize(v, deployDir);
    const docs = parseAllDocuments(stdout);
    const errors = docs.flatMap((d) => d.errors);
    if (errors.length > 0) throw new Error(`kubectl.${v} kustomize printed invalid YAML: ${errors[0].message}`);
    rendered.set(v, { text: stdout, objects: docs.map((d) => d.toJS() as Obj) });
  }
});

test.after.always(() => rm(work, { recursive: true, force: true }));

test('deploy-ha: three replicas on etcd with leader election, a PodDisruptionBudget, anti-affinity, and an example three-member etcd', async (t) => {
  await cp(path.join(ROOT, 'deploy-ha'), path.join(work, 'deploy-ha'), { recursive: true });
  const { stdout: help } = await run(process.execPath, [path.join(ROOT, 'bin/pkgserver.js'), 'serve', '--help'], { cwd: work });
  for (const v of VERSIONS) {
    const { stdout } = await kustomize(v, path.join(work, 'deploy-ha'));
    const objects = parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
    // the base's objects but its volume claim, plus etcd's and the budgets
    const base = rendered.get(v)!.objects.map((o) => `${o.kind}/${o.metadata.name}`).filter((k) => k !== 'PersistentVolumeClaim/pkgserver-data');
    t.deepEqual(
      objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
      [...base, 'Service/pkgserver-etcd', 'StatefulSet/pkgserver-etcd', 'PodDisruptionBudget/pkgserver', 'PodDisruptionBudget/pkgserver-etcd'].sort(),
    );
    const d = find(objects, 'Deployment', 'pkgserver', NS);
    t.is(d.spec.replicas, 3);
    t.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } });
    const args: string[] = d.spec.template.spec.containers[0].args;
    t.true(args.includes('--storage-backend=etcd3'));
    t.true(args.includes('--leader-elect=true'));
    t.true(args.includes('--leader-elect-resource-namespace=pkgserver-system'));
    const servers = args.find((a) => a.startsWith('--etcd-servers='))!.slice('--etcd-servers='.length).split(',');
    t.deepEqual(servers, [0, 1, 2].map((i) => `http://pkgserver-etcd-${i}.pkgserver-etcd.pkgserver-system.svc:2379`));
    // every flag is one the server knows
    for (const a of args.slice(1)) t.true(help.includes(`  ${a.split('=')[0]} `), `serve --help lists ${a.split('=')[0]}`);
    t.deepEqual(d.spec.template.spec.volumes.find((x: Obj) => x.name === 'data'), { name: 'data', emptyDir: { sizeLimit: '10Gi' } });
    t.deepEqual(d.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm, {
      topologyKey: 'kubernetes.io/hostname',
      labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'pkgserver' } },
    });
    const pdb = find(objects, 'PodDisruptionBudget', 'pkgserver', NS);
    t.is(pdb.spec.minAvailable, 2);
    t.deepEqual(pdb.spec.selector.matchLabels, d.spec.selector.matchLabels);
    const etcd = find(objects, 'StatefulSet', 'pkgserver-etcd', NS);
    t.is(etcd.spec.replicas, 3);
    t.is(etcd.spec.serviceName, 'pkgserver-etcd');
    const cluster = etcd.spec.template.spec.containers[0].command.find((c: string) => c.startsWith('--initial-cluster='));
    t.is(cluster.split(',').length, 3);
    t.is(find(objects, 'Service', 'pkgserver-etcd', NS).spec.clusterIP, 'None');
    t.is(find(objects, 'PodDisruptionBudget', 'pkgserver-etcd', NS).spec.minAvailable, 2);
  }
});

function find(objects: Obj[], kind: string, name: string, namespace?: string): Obj {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === namespace);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${namespace ?? ''}/${name}, found ${found.length}`);
  return found[0];
}

/** A role's rules flattened to sorted "group/resource:verb" entries. */
function grants(rules: Obj[]): string[] {
  return rules.flatMap((r) => (r.apiGroups as string[]).flatMap((g) => (r.resources as string[]).flatMap((res) => (r.verbs as string[]).map((v) => `${g}/${res}:${v}`)))).sort();
}

const each = (group: string, resources: string[], verbs: string[]) => resources.flatMap((r) => verbs.map((v) => `${group}/${r}:${v}`));

/** Every string value of every object, whitespace removed, and base64-decoded when it decodes. */
function strings(objects: Obj[]): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') {
      const s = v.replace(/\s+/g, '');
      out.push(s);
      if (/^[A-Za-z0-9+/]+=*$/.test(s)) out.push(Buffer.from(s, 'base64').toString('latin1').replace(/\s+/g, ''));
    } else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(objects);
  return out;
}

const pemBody = (pem: string) => pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');

test('both kubectl versions render the same objects, exactly those of the install', (t) => {
  const [a, b] = VERSIONS.map((v) => rendered.get(v)!.objects);
  t.deepEqual(a, b);
  const ids = a.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();
  t.deepEqual(ids, [
    'apiregistration.k8s.io/v1 APIService /v1alpha1.config.pkg.pkgserver.dev',
    'apiregistration.k8s.io/v1 APIService /v1alpha1.pkg.pkgserver.dev',
    'apps/v1 Deployment pkgserver-system/pkgserver',
    'rbac.authorization.k8s.io/v1 ClusterRole /pkgserver',
    'rbac.authorization.k8s.io/v1 ClusterRole /pkgserver-approve',
    'rbac.authorization.k8s.io/v1 ClusterRole /pkgserver-edit',
    'rbac.authorization.k8s.io/v1 ClusterRole /pkgserver-view',
    'rbac.authorization.k8s.io/v1 ClusterRole /system:pkgserver:approval-controller',
    'rbac.authorization.k8s.io/v1 ClusterRole /system:pkgserver:auto-approve',
    'rbac.authorization.k8s.io/v1 ClusterRole /system:pkgserver:discovery-controller',
    'rbac.authorization.k8s.io/v1 ClusterRole /system:pkgserver:packagevariant-controller',
    'rbac.authorization.k8s.io/v1 ClusterRole /system:pkgserver:scheduler-controller',
    'rbac.authorization.k8s.io/v1 ClusterRole /system:pkgserver:upgrades-controller',
    'rbac.authorization.k8s.io/v1 ClusterRoleBinding /pkgserver',
    'rbac.authorization.k8s.io/v1 ClusterRoleBinding /pkgserver:system:auth-delegator',
    'rbac.authorization.k8s.io/v1 ClusterRoleBinding /system:pkgserver:approval-controller',
    'rbac.authorization.k8s.io/v1 ClusterRoleBinding /system:pkgserver:auto-approve',
    'rbac.authorization.k8s.io/v1 ClusterRoleBinding /system:pkgserver:discovery-controller',
    'rbac.authorization.k8s.io/v1 ClusterRoleBinding /system:pkgserver:packagevariant-controller',
    'rbac.authorization.k8s.io/v1 ClusterRoleBinding /system:pkgserver:scheduler-controller',
    'rbac.authorization.k8s.io/v1 ClusterRoleBinding /system:pkgserver:upgrades-controller',
    'rbac.authorization.k8s.io/v1 RoleBinding kube-system/pkgserver-auth-reader',
    'v1 Namespace /pkgserver-system',
    'v1 PersistentVolumeClaim pkgserver-system/pkgserver-data',
    'v1 Secret pkgserver-system/pkgserver-serving',
    'v1 Service pkgserver-system/pkgserver',
    'v1 ServiceAccount pkgserver-system/pkgserver',
  ]);
  // applied in this order, the namespace exists before what lives in it and the APIServices come last
  t.is(a[0].kind, 'Namespace');
  t.deepEqual(a.slice(-2).map((o) => o.kind), ['APIService', 'APIService']);
  t.is(find(a, 'Namespace', NS).metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
});

test('the service account is bound to auth-delegator, the authentication reader in kube-system and its own role', (t) => {
  for (const v of VERSIONS) {
    const objects = rendered.get(v)!.objects;
    const delegator = find(objects, 'ClusterRoleBinding', 'pkgserver:system:auth-delegator');
    t.deepEqual(delegator.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' });
    t.deepEqual(delegator.subjects, SA_SUBJECT);
    const reader = find(objects, 'RoleBinding', 'pkgserver-auth-reader', 'kube-system');
    t.deepEqual(reader.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'extension-apiserver-authentication-reader' });
    t.deepEqual(reader.subjects, SA_SUBJECT);
    const own = find(objects, 'ClusterRoleBinding', 'pkgserver');
    t.deepEqual(own.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'pkgserver' });
    t.deepEqual(own.subjects, SA_SUBJECT);
    t.is(find(objects, 'ServiceAccount', 'pkgserver', NS).metadata.namespace, NS);
  }
});

test("the server's own ClusterRole grants exactly what it uses", (t) => {
  for (const v of VERSIONS) {
    const role = find(rendered.get(v)!.objects, 'ClusterRole', 'pkgserver');
    t.deepEqual(
      grants(role.rules),
      [
        ...each('', ['secrets', 'namespaces'], ['get', 'list', 'watch']),
        ...each('coordination.k8s.io', ['leases'], ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']),
        ...each('', ['events'], ['create', 'patch', 'update']),
        ...each('events.k8s.io', ['events'], ['create', 'patch', 'update']),
        ...each('apiextensions.k8s.io', ['customresourcedefinitions'], ['get', 'list', 'watch']),
        ...each('apiregistration.k8s.io', ['apiservices'], ['get', 'list', 'watch']),
        'authentication.k8s.io/tokenreviews:create',
        'authorization.k8s.io/subjectaccessreviews:create',
      ].sort(),
    );
  }
});

test("the user roles aggregate into kube's view, edit and admin; only approve publishes", (t) => {
  const rbacLabels = (o: Obj) => Object.fromEntries(Object.entries(o.metadata.labels as Record<string, string>).filter(([k]) => k.startsWith('rbac.authorization.k8s.io/')));
  for (const v of VERSIONS) {
    const objects = rendered.get(v)!.objects;
    const view = find(objects, 'ClusterRole', 'pkgserver-view');
    const edit = find(objects, 'ClusterRole', 'pkgserver-edit');
    const approve = find(objects, 'ClusterRole', 'pkgserver-approve');
    t.deepEqual(rbacLabels(view), { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' });
    t.deepEqual(rbacLabels(edit), { 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' });
    t.deepEqual(rbacLabels(approve), { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' });
    t.deepEqual(
      grants(view.rules),
      [
        ...each('pkg.pkgserver.dev', ['packagerevisions', 'packagerevisionresources', 'packageapis'], ['get', 'list', 'watch']),
        ...each('config.pkg.pkgserver.dev', ['repositories', 'packagevariants'], ['get', 'list', 'watch']),
        'pkg.pkgserver.dev/packagerevisions/status:get',
        'config.pkg.pkgserver.dev/repositories/status:get',
        'config.pkg.pkgserver.dev/packagevariants/status:get',
      ].sort(),
    );
    t.deepEqual(
      grants(edit.rules),
      [
        ...each('pkg.pkgserver.dev', ['packagerevisions'], ['create', 'update', 'patch', 'delete']),
        ...each('pkg.pkgserver.dev', ['packagerevisionresources'], ['update', 'patch']),
        ...each('config.pkg.pkgserver.dev', ['repositories', 'packagevariants'], ['create', 'update', 'patch', 'delete']),
      ].sort(),
    );
    t.deepEqual(grants(approve.rules), ['pkg.pkgserver.dev/packagerevisions/approval:patch', 'pkg.pkgserver.dev/packagerevisions/approval:update', 'pkg.pkgserver.dev/packagerevisions:approve']);
  }
});

test('the Deployment runs the server non-root on a read-only root with HTTPS probes and its three volumes', (t) => {
  for (const v of VERSIONS) {
    const objects = rendered.get(v)!.objects;
    const d = find(objects, 'Deployment', 'pkgserver', NS);
    t.is(d.spec.replicas, 1);
    t.deepEqual(d.spec.strategy, { type: 'Recreate' });
    const pod = d.spec.template.spec;
    t.is(pod.serviceAccountName, 'pkgserver');
    t.deepEqual(d.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'pkgserver' });
    t.is(d.spec.template.metadata.labels['app.kubernetes.io/name'], 'pkgserver');
    t.is(pod.containers.length, 1);
    const c = pod.containers[0];
    t.is(c.image, 'pkgserver:0.1.0');
    t.is(c.command, undefined); // the image's entrypoint, node bin/pkgserver.js
    t.deepEqual(c.args, [
      'serve',
      '--data-dir=/var/lib/pkgserver',
      '--bind-address=0.0.0.0',
      '--secure-port=8443',
      '--tls-cert-file=/etc/pkgserver/serving/tls.crt',
      '--tls-private-key-file=/etc/pkgserver/serving/tls.key',
      '--audit-log-path=/var/lib/pkgserver/audit/audit.log',
      '--audit-log-maxsize=100',
      '--audit-log-maxbackup=5',
    ]);
    t.deepEqual(c.ports, [{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
    t.deepEqual(c.livenessProbe.httpGet, { path: '/livez', port: 8443, scheme: 'HTTPS' });
    t.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 8443, scheme: 'HTTPS' });
    t.deepEqual(c.startupProbe.httpGet, { path: '/livez', port: 8443, scheme: 'HTTPS' });
    t.deepEqual(c.securityContext, {
      runAsNonRoot: true,
      runAsUser: 10001,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    t.deepEqual(pod.securityContext, {
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      fsGroup: 10001,
      fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { type: 'RuntimeDefault' },
    });
    t.deepEqual(Object.keys(c.resources.requests).sort(), ['cpu', 'memory']);
    t.deepEqual(Object.keys(c.resources.limits).sort(), ['cpu', 'memory']);
    t.deepEqual(c.volumeMounts, [
      { name: 'data', mountPath: '/var/lib/pkgserver' },
      { name: 'serving', mountPath: '/etc/pkgserver/serving', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    t.deepEqual(pod.volumes, [
      { name: 'data', persistentVolumeClaim: { claimName: 'pkgserver-data' } },
      { name: 'serving', secret: { secretName: 'pkgserver-serving', defaultMode: 0o440 } },
      { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
    ]);
  }
});

test('the Service sends port 443 to the pod, and the data claim is 10Gi ReadWriteOnce', (t) => {
  for (const v of VERSIONS) {
    const objects = rendered.get(v)!.objects;
    const svc = find(objects, 'Service', 'pkgserver', NS);
    t.deepEqual(svc.spec.ports, [{ name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' }]);
    const podLabels = find(objects, 'Deployment', 'pkgserver', NS).spec.template.metadata.labels;
    t.deepEqual(svc.spec.selector, { 'app.kubernetes.io/name': 'pkgserver' });
    for (const [k, val] of Object.entries(svc.spec.selector)) t.is(podLabels[k], val);
    const pvc = find(objects, 'PersistentVolumeClaim', 'pkgserver-data', NS);
    t.deepEqual(pvc.spec, { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } });
  }
});

test('both APIServices point at the Service and carry the generated CA as caBundle', (t) => {
  for (const v of VERSIONS) {
    const objects = rendered.get(v)!.objects;
    for (const group of ['pkg.pkgserver.dev', 'config.pkg.pkgserver.dev']) {
      const { caBundle, ...spec } = find(objects, 'APIService', `v1alpha1.${group}`).spec;
      t.deepEqual(spec, { group, version: 'v1alpha1', groupPriorityMinimum: 1000, versionPriority: 15, service: { namespace: NS, name: 'pkgserver', port: 443 } });
      const b64 = (caBundle as string).replace(/\s+/g, '');
      t.regex(b64, /^[A-Za-z0-9+/]+=*$/);
      t.is(Buffer.from(b64, 'base64').toString('utf8'), pki.caCrt);
    }
  }
});

test('the serving Secret holds the serving pair, which verifies against the caBundle for the Service name', (t) => {
  for (const v of VERSIONS) {
    const objects = rendered.get(v)!.objects;
    const secret = find(objects, 'Secret', 'pkgserver-serving', NS);
    t.is(secret.type, 'kubernetes.io/tls');
    t.deepEqual(Object.keys(secret.data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    const data = (k: string) => Buffer.from(secret.data[k].replace(/\s+/g, ''), 'base64').toString('utf8');
    t.is(data('tls.crt'), pki.servingCrt);
    t.is(data('tls.key'), pki.servingKey);
    t.is(data('ca.crt'), pki.caCrt);
    const caBundle = find(objects, 'APIService', 'v1alpha1.pkg.pkgserver.dev').spec.caBundle.replace(/\s+/g, '');
    const ca = new X509Certificate(Buffer.from(caBundle, 'base64'));
    const cert = new X509Certificate(data('tls.crt'));
    t.true(cert.checkIssued(ca));
    t.true(cert.verify(ca.publicKey));
    t.is(cert.checkHost(DNS_NAME), DNS_NAME);
    t.is(cert.checkHost('pkgserver.other-namespace.svc'), undefined);
    // the key in the Secret is the certificate's own key
    const pub = (k: ReturnType<typeof createPublicKey>) => k.export({ type: 'spki', format: 'der' }).toString('base64');
    t.is(pub(createPublicKey(createPrivateKey(data('tls.key')))), pub(cert.publicKey));
  }
});

test("the CA's and the admin's private keys are never deployed; the serving key is the only private key", (t) => {
  const caKeyBody = pemBody(pki.caKey);
  const adminKeyBody = pemBody(pki.adminKey);
  t.true(caKeyBody.length > 1000);
  for (const v of VERSIONS) {
    const { text, objects } = rendered.get(v)!;
    const all = [text.replace(/\s+/g, ''), ...strings(objects)];
    t.false(all.some((s) => s.includes(caKeyBody)), 'ca.key is in the output');
    t.false(all.some((s) => s.includes(adminKeyBody)), 'admin.key is in the output');
    const keys = new Set(all.filter((s) => s.includes('PRIVATEKEY-----')));
    t.deepEqual([...keys], [pki.servingKey.replace(/\s+/g, '')]);
  }
});

test('without pki/ the kustomization does not render, so no half-configured install is applied', async (t) => {
  const bare = path.join(work, 'bare');
  await cp(deployDir, bare, { recursive: true, filter: (src) => path.basename(src) !== 'pki' });
  for (const v of VERSIONS) {
    const err = await t.throwsAsync(kustomize(v, bare));
    t.regex((err as Error & { stderr: string }).stderr, /pki\/serving\.crt/);
  }
});

test('deploy/ in the repository holds no key or certificate material', async (t) => {
  const files = (await readdir(path.join(ROOT, 'deploy'), { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .filter((f) => !path.relative(path.join(ROOT, 'deploy'), f).startsWith(`pki${path.sep}`));
  t.true(files.some((f) => f.endsWith('kustomization.yaml')));
  for (const f of files) {
    const text = await readFile(f, 'utf8');
    t.notRegex(text, /-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----/, f);
    t.notRegex(text, /LS0tLS1CRUdJTi/, f); // base64 of "-----BEGIN"
  }
});

test('the controllers get the same roles in a cluster as in the standalone default policy', (t) => {
  const policy = parsePolicy(DEFAULT_POLICY, 'default');
  for (const v of VERSIONS) {
    const objects = rendered.get(v)!.objects;
    const mine = [...policy.clusterRoles, ...policy.clusterRoleBindings].filter((o) => o.metadata.name.startsWith('system:pkgserver:'));
    t.is(mine.length, 12);
    for (const o of mine) {
      const d = find(objects, o.kind!, o.metadata.name);
      if (o.kind === 'ClusterRole') t.deepEqual(d.rules, (o as { rules: unknown }).rules, o.metadata.name);
      else {
        t.deepEqual(d.roleRef, (o as { roleRef: unknown }).roleRef, o.metadata.name);
        t.deepEqual(d.subjects, (o as { subjects: unknown }).subjects, o.metadata.name);
      }
    }
  }
});
