// `pkgserver quickstart` as a child process, and a PATH on which `kubectl pkg` is the plugin of
// this repository (bin/kubectl-pkg.js) found by kubectl's own plugin mechanism.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { symlinkSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { kubectlPath, type KubectlVersion } from './kubectl.ts';
import { ROOT, tempDir } from './server.ts';

export const READY = 'pkgserver quickstart: serving, catalog synced';

export interface Quickstart {
  proc: ChildProcess;
  dataDir: string;
  kubeconfig: string;
  /** every line printed so far */
  lines: string[];
  /** the lines printed after "Try these" (comments and commands), once ready */
  tryLines: string[];
  /** milliseconds from the start to the ready line */
  readyAfterMs: number;
  stop(): Promise<void>;
}

export async function startQuickstart(dataDir: string, timeoutMs = 90_000): Promise<Quickstart> {
  const started = Date.now();
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/pkgserver.js'), 'quickstart', '--data-dir', dataDir, '--secure-port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const exited = once(proc, 'exit');
  let readyAt = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`quickstart not ready after ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs);
    const onLine = (l: string) => {
      lines.push(l);
      if (l.startsWith(READY)) readyAt = Date.now();
      // the block of commands ends with the fifth step's command
      if (readyAt && /^git -C /.test(l)) {
        clearTimeout(timer);
        resolve();
      }
    };
    createInterface({ input: proc.stdout! }).on('line', onLine);
    createInterface({ input: proc.stderr! }).on('line', onLine);
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`quickstart exited with ${code}:\n${lines.join('\n')}`));
    });
  });
  const start = lines.findIndex((l) => l.startsWith('Try these'));
  return {
    proc,
    dataDir,
    kubeconfig: path.join(dataDir, 'server', 'kubeconfig'),
    lines,
    tryLines: lines.slice(start + 1).filter((l) => l.trim()),
    readyAfterMs: readyAt - started,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * A directory for PATH holding `kubectl-pkg` (a symlink to bin/kubectl-pkg.js) and `kubectl` (the
 * given version), and the PATH to use: it, then node's and the system's directories (git, kpt).
 */
const pluginDirs = new Map<KubectlVersion, string>();

export function pluginPath(version: KubectlVersion): { dir: string; PATH: string } {
  const PATH = (d: string) => [d, path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':');
  const cached = pluginDirs.get(version);
  if (cached) return { dir: cached, PATH: PATH(cached) };
  const dir = tempDir('kubectl-pkg-path-');
  pluginDirs.set(version, dir);
  symlinkSync(path.join(ROOT, 'bin/kubectl-pkg.js'), path.join(dir, 'kubectl-pkg'));
  symlinkSync(kubectlPath(version), path.join(dir, 'kubectl'));
  return { dir, PATH: PATH(dir) };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` (never throws on a non-zero exit). */
export function run(cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** The environment of a user with the plugin on PATH and KUBECONFIG set: no other configuration leaks in. */
export function userEnv(PATH: string, kubeconfig: string, home: string): NodeJS.ProcessEnv {
  return {
    PATH,
    HOME: home,
    KUBECONFIG: kubeconfig,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
  };
}
