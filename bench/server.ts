// Starts the real server (`bin/pkgserver.js serve`) as a child process for the benchmark: its own
// data directory, a free loopback port, controllers on, info-level JSON logs. The server logs
// every request with its server-side duration (`"msg":"request"`, `ms`); those lines are kept so
// the benchmark can report server time beside the client-observed time.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TLSMaterial } from './client.ts';

export const ROOT = path.resolve(import.meta.dirname, '..');

export interface RequestLog {
  method: string;
  path: string;
  code: number;
  ms: number;
}

export interface BenchServer {
  url: string;
  dataDir: string;
  proc: ChildProcess;
  /** every request the server logged, in order */
  requests: RequestLog[];
  /** warnings and errors the server logged (for the report) */
  problems: string[];
  /** how many log lines of each pino level (30 info, 40 warn, 50 error, …) the server wrote */
  levels: Record<number, number>;
  tls(): TLSMaterial;
  /** VmRSS and VmHWM of the server process, in MiB */
  memory(): { rssMiB: number; hwmMiB: number };
  /** CPU time (user + system) the server process has used, in ms */
  cpuMs(): number;
  /** Waits until at least `count` requests have been logged (log lines arrive asynchronously). */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startPkgServer(opts: {
  dataDir: string;
  args?: string[];
  nodeArgs?: string[];
  readyTimeoutMs?: number;
  /** also append every line the server logs to this file */
  logFile?: string;
}): Promise<BenchServer> {
  const proc = spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), path.join(ROOT, 'bin/pkgserver.js'), 'serve', '--data-dir', opts.dataDir, '--secure-port', '0', '--log-level', 'info', '--controllers', 'true', ...(opts.args ?? [])],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const requests: RequestLog[] = [];
  const problems: string[] = [];
  const levels: Record<number, number> = {};
  const tail: string[] = [];
  const logStream = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
  let waiters: (() => void)[] = [];
  const exited = once(proc, 'exit');
  proc.on('close', () => logStream?.end()); // after the last line of stdout and stderr

  const ready = new Promise<string>((resolve, reject) => {
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 50) tail.shift();
      if (logStream && !logStream.writableEnded) logStream.write(`${line}\n`);
      let rec: any;
      try {
        rec = JSON.parse(line);
      } catch {
        problems.push(line);
        return;
      }
      if (typeof rec.level === 'number') levels[rec.level] = (levels[rec.level] ?? 0) + 1;
      if (rec.msg === 'request') {
        requests.push({ method: rec.method, path: rec.path, code: rec.code, ms: rec.ms });
        const w = waiters;
        waiters = [];
        for (const f of w) f();
      } else if (rec.msg?.startsWith('pkgserver is serving')) resolve(rec.address);
      else if (rec.level >= 40 && problems.length < 200) problems.push(line);
    };
    createInterface({ input: proc.stdout! }).on('line', onLine);
    createInterface({ input: proc.stderr! }).on('line', onLine);
    void exited.then(([code]) => reject(new Error(`pkgserver exited with ${code} before it was ready:\n${tail.join('\n')}`)));
    setTimeout(() => reject(new Error(`pkgserver not ready after ${opts.readyTimeoutMs ?? 60_000} ms:\n${tail.join('\n')}`)), opts.readyTimeoutMs ?? 60_000).unref();
  });
  let url: string;
  try {
    url = await ready;
  } catch (e) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    throw e;
  }

  return {
    url,
    dataDir: opts.dataDir,
    proc,
    requests,
    problems,
    levels,
    tls() {
      const pki = path.join(opts.dataDir, 'pki');
      return {
        ca: readFileSync(path.join(pki, 'ca.crt'), 'utf8'),
        cert: readFileSync(path.join(pki, 'admin.crt'), 'utf8'),
        key: readFileSync(path.join(pki, 'admin.key'), 'utf8'),
      };
    },
    memory() {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
      return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
    },
    cpuMs() {
      return procCpuMs(proc.pid!).self;
    },
    async waitForRequests(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`the server logged ${requests.length} requests, expected ${count}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

let clockTicks: number | undefined;

/**
 * CPU time of a process from /proc/<pid>/stat, in ms: `self` (utime + stime) and `children`
 * (cutime + cstime: the children it has waited for).
 */
export function procCpuMs(pid: number | 'self'): { self: number; children: number } {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number); // f[0] is field 3 (state)
  const ms = (ticks: number) => (ticks * 1000) / clockTicks!;
  return { self: ms(f[11] + f[12]), children: ms(f[13] + f[14]) };
}
