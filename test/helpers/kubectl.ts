// Runs the real kubectl binaries that ship with the machine image (kubectl.1.27 … kubectl.1.33
// beside the real path of `kubectl`), each with its own discovery cache.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { realpathSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { poll } from './poll.ts';
import { tempDir } from './server.ts';

export const KUBECTL_VERSIONS = ['1.27', '1.28', '1.29', '1.30', '1.31', '1.32', '1.33'] as const;
export type KubectlVersion = (typeof KUBECTL_VERSIONS)[number];

const kubectlDir = path.dirname(realpathSync(execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim()));

export function kubectlPath(v: KubectlVersion): string {
  return path.join(kubectlDir, `kubectl.${v}`);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Kubectl {
  readonly cacheDir = tempDir('kubectl-cache-');
  readonly home = tempDir('kubectl-home-');

  constructor(
    readonly version: KubectlVersion,
    readonly kubeconfig: string,
  ) {}

  private args(args: string[]): string[] {
    return ['--kubeconfig', this.kubeconfig, '--cache-dir', this.cacheDir, ...args];
  }

  private env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH, HOME: this.home, KUBECONFIG: this.kubeconfig, ...extra };
  }

  /** Runs kubectl; never throws on a non-zero exit. */
  run(args: string[], opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = execFile(kubectlPath(this.version), this.args(args), { env: this.env(opts.env), timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0, stdout, stderr });
      });
      if (opts.input !== undefined) child.stdin!.end(opts.input);
    });
  }

  /** Runs kubectl and returns stdout; throws with stderr on failure. */
  async ok(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
    const r = await this.run(args, opts);
    if (r.code !== 0) throw new Error(`kubectl.${this.version} ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Starts a long-running kubectl (e.g. get -w); collect its output from the returned process. */
  spawn(args: string[]): ChildProcess {
    return spawn(kubectlPath(this.version), this.args(args), { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Writes an editor script for `kubectl edit` that runs `sed` expressions on the file. */
  editor(sedExpr: string): string {
    const p = path.join(this.home, `editor-${Math.random().toString(36).slice(2)}.sh`);
    writeFileSync(p, `#!/bin/sh\nsed -i -e '${sedExpr.replace(/'/g, `'\\''`)}' "$1"\n`);
    chmodSync(p, 0o755);
    return p;
  }
}

/** A long-running kubectl whose output is collected from its start. */
export function collect(proc: ReturnType<Kubectl['spawn']>) {
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return {
    get text() {
      return out;
    },
    poll(re: RegExp, ms = 20_000): Promise<string> {
      return poll(`${re} in the watch output:\n${out}`, async () => (re.test(out) ? out : undefined), ms);
    },
  };
}
