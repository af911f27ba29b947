// Starts the real server (`bin/pkgserver.js serve`) as a child process on a free loopback port,
// in its own data directory, and hands tests its kubeconfig.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface ServerHandle {
  url: string;
  dataDir: string;
  kubeconfig: string;
  proc: ChildProcess;
  /** every log line the server printed */
  logs: string[];
  /** SIGTERM and wait */
  stop(): Promise<void>;
  /** SIGKILL and wait */
  kill(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  port?: number;
  args?: string[];
  /** run the controllers (repository sync); off by default so API tests see only their own writes */
  controllers?: boolean;
  env?: Record<string, string>;
  /** --local-repository-root of the server (default: the temporary directory, where tests make their local bare repositories) */
  localRoots?: string[];
}

export function tempDir(prefix = 'pkgserver-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startServer(opts: StartOptions = {}): Promise<ServerHandle> {
  const dataDir = opts.dataDir ?? tempDir();
  const proc = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin/pkgserver.js'),
      'serve',
      '--data-dir',
      dataDir,
      '--secure-port',
      String(opts.port ?? 0),
      '--log-level',
      'debug',
      '--controllers',
      String(opts.controllers ?? false),
      ...(opts.localRoots ?? [os.tmpdir()]).flatMap((r) => ['--local-repository-root', r]),
      ...(opts.args ?? []),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(opts.env ?? {}) } },
  );
  const logs: string[] = [];
  const exited = once(proc, 'exit');
  const ready = new Promise<string>((resolve, reject) => {
    const onLine = (line: string) => {
      logs.push(line);
      if (line.includes('pkgserver is serving')) {
        try {
          resolve(JSON.parse(line).address);
        } catch (e) {
          reject(e);
        }
      }
    };
    createInterface({ input: proc.stdout! }).on('line', onLine);
    createInterface({ input: proc.stderr! }).on('line', onLine);
    void exited.then(([code]) => reject(new Error(`server exited with ${code} before it was ready:\n${logs.join('\n')}`)));
    setTimeout(() => reject(new Error(`server not ready after 60s:\n${logs.join('\n')}`)), 60_000).unref();
  });
  const url = await ready;
  const stopWith = async (signal: NodeJS.Signals) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    await exited;
  };
  return { url, dataDir, kubeconfig: path.join(dataDir, 'kubeconfig'), proc, logs, stop: () => stopWith('SIGTERM'), kill: () => stopWith('SIGKILL') };
}

/** TLS material of a running server's admin kubeconfig, for raw HTTPS requests. */
export function adminTLS(h: ServerHandle): { ca: string; cert: string; key: string } {
  const pki = path.join(h.dataDir, 'pki');
  return {
    ca: readFileSync(path.join(pki, 'ca.crt'), 'utf8'),
    cert: readFileSync(path.join(pki, 'admin.crt'), 'utf8'),
    key: readFileSync(path.join(pki, 'admin.key'), 'utf8'),
  };
}
