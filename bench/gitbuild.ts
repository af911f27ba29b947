// Builds the benchmark's git repositories directly with the git CLI: `git fast-import` writes every
// commit and lightweight tag of one repository in a single process (no work tree, no push), then
// `git pack-refs` packs the refs as a long-lived server repository would have them.
import { spawn } from 'node:child_process';
import { GIT_ENV } from '../test/helpers/gitserver.ts';

export interface PackageSpec {
  /** package directory from the repository root: `<realm>/<package>` or `<target>/<realm>/<package>` */
  path: string;
  name: string;
}

export interface RepoSpec {
  name: string;
  namespace: string;
  deployment: boolean;
  packages: PackageSpec[];
  /** published revisions per package (v1 … vM) */
  revisions: number;
}

const kptfile = (name: string, rev: number) =>
  `apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: ${name}
  annotations:
    config.kubernetes.io/local-config: "true"
info:
  description: benchmark package ${name}, revision ${rev}
`;

const configMap = (name: string, rev: number) =>
  `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}-config
data:
  revision: "${rev}"
  greeting: hello from ${name}
`;

const deployment = (name: string) =>
  `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 1
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: app
        image: registry.example.com/${name}:1.0.0
        envFrom:
        - configMapRef: {name: ${name}-config}
`;

const KUSTOMIZATION = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- configmap.yaml
- deployment.yaml
`;

/** The files a revision changes: everything in v1, then the Kptfile and the ConfigMap. */
export function revisionFiles(pkg: PackageSpec, rev: number, deploymentRepo: boolean): Record<string, string> {
  const files: Record<string, string> = { Kptfile: kptfile(pkg.name, rev), 'configmap.yaml': configMap(pkg.name, rev) };
  if (rev === 1) {
    files['deployment.yaml'] = deployment(pkg.name);
    if (deploymentRepo) files['kustomization.yaml'] = KUSTOMIZATION;
  }
  return files;
}

function data(s: string): string {
  return `data ${Buffer.byteLength(s)}\n${s}\n`;
}

/** The fast-import stream of a repository: revision-major, so `main` ends with every package at vM. */
function fastImportStream(spec: RepoSpec, startTime: number): string {
  const out: string[] = [];
  let mark = 0;
  let t = startTime;
  for (let rev = 1; rev <= spec.revisions; rev++) {
    for (const pkg of spec.packages) {
      mark++;
      t++;
      out.push(`commit refs/heads/main\nmark :${mark}\n`);
      out.push(`author Bench Author <author@example.com> ${t} +0000\ncommitter Bench Committer <committer@example.com> ${t} +0000\n`);
      out.push(data(`Release ${pkg.name} v${rev}\n`));
      for (const [file, content] of Object.entries(revisionFiles(pkg, rev, spec.deployment))) out.push(`M 100644 inline ${pkg.path}/${file}\n${data(content)}`);
      out.push('\n');
      out.push(`reset refs/tags/${pkg.path}/v${rev}\nfrom :${mark}\n\n`);
    }
  }
  out.push('done\n');
  return out.join('');
}

/** Runs git with `input` on stdin; resolves with stdout. */
export function gitIn(cwd: string, args: string[], input?: string, env: NodeJS.ProcessEnv = GIT_ENV): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('git', args, { cwd, env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout!.on('data', (c: Buffer) => out.push(c));
    p.stderr!.on('data', (c: Buffer) => err.push(c));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`git ${args.join(' ')} (in ${cwd}) exited with ${code}: ${Buffer.concat(err).toString('utf8')}`));
    });
    if (input !== undefined) {
      p.stdin!.on('error', () => {}); // reported through the exit code
      p.stdin!.end(input);
    }
  });
}

/** Writes every commit and tag of `spec` into the (empty, bare) repository `bare`. */
export async function buildRepo(bare: string, spec: RepoSpec, startTime: number): Promise<void> {
  await gitIn(bare, ['fast-import', '--quiet', '--done'], fastImportStream(spec, startTime));
  await gitIn(bare, ['pack-refs', '--all', '--prune']);
}
