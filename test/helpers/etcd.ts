// Starts a real etcd (Debian's etcd-server, /usr/bin/etcd 3.4) for tests: one member on loopback,
// free ports, a temporary data directory, optionally TLS with client certificates. Ready once its
// /health endpoint answers healthy (polled, with a generous bound: the test machines are busy).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export const ETCD_BINARY = process.env.ETCD_BINARY ?? '/usr/bin/etcd';

export interface EtcdTLS {
  /** CA that signed the server's and the clients' certificates (PEM file) */
  caFile: string;
  certFile: string;
  keyFile: string;
  /** a client certificate (clientAuth) for the health checks */
  clientCertFile: string;
  clientKeyFile: string;
}

export interface EtcdHandle {
  /** the client URL, http:// or https:// */
  endpoint: string;
  dataDir: string;
  proc: ChildProcess;
  logs: string[];
  stop(): Promise<void>;
  /** kill -9 and start again on the same ports and data directory; resolves once healthy */
  restart(): Promise<void>;
}

/** A port nobody listens on right now (the kernel's choice). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

const READY_BOUND_MS = 90_000;

export async function startEtcd(opts: { tls?: EtcdTLS } = {}): Promise<EtcdHandle> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pkgserver-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const scheme = opts.tls ? 'https' : 'http';
  const endpoint = `${scheme}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'test',
    '--data-dir', dataDir,
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `test=${peer}`,
    '--initial-cluster-state', 'new',
    '--logger', 'zap',
    '--log-level', 'warn',
    // a test etcd need not survive power loss (a restart after kill -9 keeps its data)
    '--unsafe-no-fsync',
  ];
  if (opts.tls) {
    args.push('--cert-file', opts.tls.certFile, '--key-file', opts.tls.keyFile, '--trusted-ca-file', opts.tls.caFile, '--client-cert-auth');
  }
  const logs: string[] = [];
  let proc: ChildProcess;
  let exited: Promise<unknown>;

  const kill = async (signal: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill(signal);
      await exited;
    }
  };
  const stop = async () => {
    await kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  };
  /** Starts the member on its ports and data directory; resolves once it is healthy. */
  const run = async () => {
    proc = spawn(ETCD_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk: Buffer) => logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    proc.stdout!.on('data', collect);
    proc.stderr!.on('data', collect);
    exited = once(proc, 'exit');
    let gone = false;
    void exited.then(() => (gone = true));
    const deadline = Date.now() + READY_BOUND_MS;
    for (;;) {
      if (gone) {
        await stop();
        throw new Error(`etcd exited before it was healthy:\n${logs.slice(-20).join('\n')}`);
      }
      if (await healthy(endpoint, opts.tls)) return;
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`etcd not healthy after ${READY_BOUND_MS} ms:\n${logs.slice(-20).join('\n')}`);
      }
      // polling interval, not a wait for something to happen
      await delay(100);
    }
  };
  await run();
  return {
    endpoint,
    dataDir,
    get proc() {
      return proc;
    },
    logs,
    stop,
    restart: async () => {
      await kill('SIGKILL');
      await run();
    },
  };
}

/** Whether the member at `endpoint` answers its /health as healthy (within 2 s). */
export async function healthy(endpoint: string, tls?: EtcdTLS): Promise<boolean> {
  const { readFileSync } = await import('node:fs');
  return new Promise((resolve) => {
    const url = `${endpoint}/health`;
    const onRes = (res: http.IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 && JSON.parse(body).health === 'true');
        } catch {
          resolve(false);
        }
      });
    };
    const req = tls
      ? https.get(url, { ca: readFileSync(tls.caFile), cert: readFileSync(tls.clientCertFile), key: readFileSync(tls.clientKeyFile), servername: '', timeout: 2000 }, onRes)
      : http.get(url, { timeout: 2000 }, onRes);
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

/**
 * One etcd member for a whole test file: started before its tests, stopped after them. Tests keep
 * apart by key prefix. Returns a getter of the running member.
 */
export function useEtcd(test: { before(fn: () => Promise<void>): void; after: { always(fn: () => Promise<void>): void } }): () => EtcdHandle {
  let etcd: EtcdHandle | undefined;
  test.before(async () => {
    etcd = await startEtcd();
  });
  test.after.always(async () => {
    await etcd?.stop();
  });
  return () => {
    if (!etcd) throw new Error('etcd is not running (useEtcd starts it before the tests)');
    return etcd;
  };
}
