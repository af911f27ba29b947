// `pkgserver quickstart`: the whole product in one command. Makes two local bare repositories
// (a catalog with three packages that depend on each other, tagged as published revisions, and an
// empty deployment repository), runs the same server as `serve` with both registered, waits for
// the catalog to be synced and prints the commands to try. A second run over the same directory
// reuses what is there.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { serve } from './serve.ts';
import { ApiClient, ApiError } from './pkg/client.ts';

const USAGE = `Usage: pkgserver quickstart [serve flags]

Creates, in the data directory (default ./quickstart):
  git/catalog.git   a catalog: platform/widget-crds (a CRD), platform/widget-operator (needs it),
                    apps/shop (needs the operator), tagged as published revisions
  git/deploy.git    an empty deployment repository
  server/           the server's store, certificates, policy and kubeconfig
then serves with both repositories registered (namespace default), waits until the catalog is
synced and prints the commands that show the product. Running it again reuses the directory.

Every flag of "pkgserver serve" is accepted (--secure-port, --log-level, ...); --data-dir is the
quickstart's directory, and --local-repository-root is set to its git/ directory.

Example:
  npx pkgserver quickstart --data-dir /tmp/qs --secure-port 0`;

/** git with no user or system configuration, and a fixed author. */
const GIT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'pkgserver quickstart',
  GIT_AUTHOR_EMAIL: 'quickstart@pkgserver.dev',
  GIT_COMMITTER_NAME: 'pkgserver quickstart',
  GIT_COMMITTER_EMAIL: 'quickstart@pkgserver.dev',
};

function git(cwd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env: GIT_ENV, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`git ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

const kptfile = (name: string, description: string) => `apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: ${name}
  annotations:
    config.kubernetes.io/local-config: "true"
info:
  description: ${description}
`;

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
    listKind: WidgetList
    plural: widgets
    singular: widget
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                color: {type: string}
                size: {type: integer}
`;

const OPERATOR = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: widget-operator
  namespace: widget-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widget-operator
rules:
  - apiGroups: [example.com]
    resources: [widgets, widgets/status]
    verbs: [get, list, watch, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: widget-operator
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: widget-operator
subjects:
  - kind: ServiceAccount
    name: widget-operator
    namespace: widget-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: widget-operator
  namespace: widget-system
spec:
  replicas: 1
  selector:
    matchLabels: {app: widget-operator}
  template:
    metadata:
      labels: {app: widget-operator}
    spec:
      serviceAccountName: widget-operator
      containers:
        - name: manager
          image: ghcr.io/example/widget-operator:1.4.0
`;

const shop = (image: string, replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  labels: {app: shop}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
        - name: shop
          image: ${image}
          ports:
            - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: shop
spec:
  selector: {app: shop}
  ports:
    - port: 80
      targetPort: 8080
`;

const SHOP_WIDGET = `# the shop's storefront widget, reconciled by the widget operator
apiVersion: example.com/v1
kind: Widget
metadata:
  name: storefront
spec:
  color: blue
  size: 3
---
apiVersion: claim.pkg.pkgserver.dev/v1alpha1
kind: PackageDependency
metadata:
  name: widget-operator
spec:
  upstream: {repository: catalog, realm: platform, package: widget-operator, revision: "*"}
`;

/** The catalog's history: each step writes files and tags the packages it names. */
const CATALOG: { message: string; files: Record<string, string>; tags: string[] }[] = [
  {
    message: 'widget CRDs, the widget operator and the shop',
    files: {
      'README.md': '# catalog\n\nPackages published by the platform team; tags `<realm>/<package>/vN` are their revisions.\n',
      'platform/widget-crds/Kptfile': kptfile('widget-crds', 'The Widget API (example.com/v1)'),
      'platform/widget-crds/README.md': '# widget-crds\n\nThe CustomResourceDefinition of `example.com/v1` Widget.\n',
      'platform/widget-crds/crd.yaml': CRD,
      'platform/widget-operator/Kptfile': kptfile('widget-operator', 'The operator that reconciles Widgets'),
      'platform/widget-operator/README.md': '# widget-operator\n\nRuns the controller of Widgets; needs the Widget CRD (its ClusterRole names `widgets`).\n',
      'platform/widget-operator/operator.yaml': OPERATOR,
      'apps/shop/Kptfile': kptfile('shop', 'The shop web application'),
      'apps/shop/README.md': '# shop\n\nThe shop: a Deployment, a Service and a Widget; needs the widget operator.\n',
      'apps/shop/shop.yaml': shop('ghcr.io/example/shop:2.0.0', 2),
      'apps/shop/widget.yaml': SHOP_WIDGET,
    },
    tags: ['platform/widget-crds/v1', 'platform/widget-operator/v1', 'apps/shop/v1'],
  },
  {
    message: 'shop 2.1.0',
    files: { 'apps/shop/shop.yaml': shop('ghcr.io/example/shop:2.1.0', 2) },
    tags: ['apps/shop/v2'],
  },
];

async function makeCatalog(bare: string): Promise<void> {
  await git(path.dirname(bare), 'init', '--quiet', '--bare', '-b', 'main', bare);
  const work = await mkdtemp(path.join(os.tmpdir(), 'pkgserver-quickstart-'));
  try {
    await git(work, 'init', '--quiet', '-b', 'main');
    for (const step of CATALOG) {
      for (const [file, content] of Object.entries(step.files)) {
        await mkdir(path.dirname(path.join(work, file)), { recursive: true });
        await writeFile(path.join(work, file), content);
      }
      await git(work, 'add', '-A');
      await git(work, 'commit', '--quiet', '-m', step.message);
      for (const tag of step.tags) await git(work, 'tag', tag);
    }
    await git(work, 'push', '--quiet', bare, 'main', '--tags');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The value of `--name V` / `--name=V` in argv, and argv without it. */
function takeFlag(argv: string[], name: string): { value?: string; rest: string[] } {
  const rest: string[] = [];
  let value: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === `--${name}`) value = argv[++i];
    else if (a.startsWith(`--${name}=`)) value = a.slice(name.length + 3);
    else rest.push(a);
  }
  return { value, rest };
}

export async function quickstart(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const { value: dir, rest: r1 } = takeFlag(argv, 'data-dir');
  const { value: logLevel, rest } = takeFlag(r1, 'log-level');
  const root = path.resolve(dir ?? 'quickstart');
  const gitRoot = path.join(root, 'git');
  const serverDir = path.join(root, 'server'); // the server refuses repositories inside its own data directory
  await mkdir(gitRoot, { recursive: true });
  const catalog = path.join(gitRoot, 'catalog.git');
  const deploy = path.join(gitRoot, 'deploy.git');
  try {
    if (existsSync(catalog)) console.log(`reusing ${catalog}`);
    else {
      await makeCatalog(catalog);
      console.log(`created ${catalog}: widget-crds, widget-operator, shop (v1, v2)`);
    }
    if (existsSync(deploy)) console.log(`reusing ${deploy}`);
    else {
      await git(gitRoot, 'init', '--quiet', '--bare', '-b', 'main', deploy);
      console.log(`created ${deploy}`);
    }
  } catch (e) {
    console.error(`pkgserver quickstart: ${(e as Error).message}`);
    process.exit(1);
  }

  // the server itself: the same code as `pkgserver serve`, quiet unless asked
  await serve(['--data-dir', serverDir, '--log-level', logLevel ?? 'warn', '--local-repository-root', gitRoot, '--controllers', 'true', ...rest]);
  const kubeconfig = path.join(serverDir, 'kubeconfig');
  const server = /server: (\S+)/.exec(readFileSync(kubeconfig, 'utf8'))?.[1];
  console.log(`serving on ${server}`);

  const api = await ApiClient.fromKubeconfig({ kubeconfig });
  const repo = (name: string, url: string, deployment: boolean) => ({
    apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
    kind: 'Repository',
    metadata: { name, namespace: 'default' },
    spec: { deployment, git: { url }, sync: { period: '10s' } },
  });
  try {
    for (const r of [repo('catalog', catalog, false), repo('deploy', deploy, true)]) {
      try {
        await api.request('POST', api.path('repositories', 'default'), r);
        console.log(`registered Repository default/${r.metadata.name} (${r.spec.git.url})`);
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 409)) throw e;
      }
    }
    // synced: Ready, and the catalog's four revisions listed
    const started = Date.now();
    for (let i = 0; ; i++) {
      const c = (await api.request('GET', api.path('repositories', 'default', 'catalog'))) as { status?: { conditions?: { type: string; status: string }[]; revisionCount?: number } };
      const ready = c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True');
      if (ready && (c.status?.revisionCount ?? 0) >= 4) break;
      if (Date.now() - started > 120_000) throw new Error('the catalog did not sync in 120s');
      if (i % 20 === 19) console.log('waiting for the catalog to sync...');
      await new Promise((res) => setTimeout(res, 250));
    }
  } catch (e) {
    console.error(`pkgserver quickstart: ${(e as Error).message}`);
    process.exit(1);
  }

  const home = path.join(root, 'try');
  console.log(`
pkgserver quickstart: serving, catalog synced (${server}; kubeconfig ${kubeconfig})

Try these (kubectl pkg is bin/kubectl-pkg.js of this package: put it on PATH, or use "npx kubectl-pkg"):

export KUBECONFIG=${kubeconfig}
# 1. the catalog
kubectl get packagerevisions
# 2. clone the shop to the target cluster01, as a draft in the deployment repository
kubectl pkg clone catalog.catalog.apps.shop.v2 cluster01.deploy.apps.shop.ws1
# 3. its files and what it needs
kubectl pkg pull cluster01.deploy.apps.shop.ws1 ${home}/shop && kubectl pkg deps cluster01.deploy.apps.shop.ws1
# 4. propose and approve: a commit and a tag in the deployment repository
kubectl pkg propose cluster01.deploy.apps.shop.ws1 && kubectl pkg approve cluster01.deploy.apps.shop.ws1
# 5. read the result with git and kpt
git -C ${deploy} log --oneline --decorate && kpt pkg get file://${deploy}/cluster01/apps/shop@v1 ${home}/shop-v1
`);
}
