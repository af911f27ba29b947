// Several replicas on one etcd (issue 12): the server processes of an HA test, their clients, and
// who leads, read from each replica's /metrics as an operator would.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { HttpClient } from './http.ts';
import { Kubectl } from './kubectl.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './server.ts';

/** Leader election flags of a short lease, so that a takeover is seen within seconds. */
export function leaderElectionArgs(leaseSeconds: number): string[] {
  return ['--leader-elect', 'true', '--leader-elect-lease-duration', `${leaseSeconds}s`, '--leader-elect-renew-deadline', `${Math.max(1, leaseSeconds - 2)}s`, '--leader-elect-retry-period', '500ms'];
}

export interface Replicas {
  servers: ServerHandle[];
  http: HttpClient[];
  kubectl: Kubectl[];
  /** the credentials file every replica reads (the Secret `gitcreds`: git / secret) */
  credsFile: string;
}

/**
 * Starts `n` replicas with controllers on one etcd under one key prefix, each in its own data
 * directory; `extraArgs` are added to each command line.
 */
export async function startReplicas(n: number, opts: { etcdEndpoint: string; prefix: string; leaseSeconds: number; extraArgs?: string[] }): Promise<Replicas> {
  const work = tempDir('pkgserver-ha-');
  const credsFile = path.join(work, 'creds.yaml');
  await writeFile(credsFile, YAML.stringify({ gitcreds: { username: 'git', password: 'secret' } }));
  const args = ['--storage-backend', 'etcd3', '--etcd-servers', opts.etcdEndpoint, '--etcd-prefix', opts.prefix, '--credentials-file', credsFile, '--git-timeout', '30', ...leaderElectionArgs(opts.leaseSeconds), ...(opts.extraArgs ?? [])];
  const servers = await Promise.all(Array.from({ length: n }, () => startServer({ controllers: true, args })));
  return { servers, http: servers.map((s) => new HttpClient(s.url, adminTLS(s))), kubectl: servers.map((s) => new Kubectl('1.33', s.kubeconfig)), credsFile };
}

/** 1 if the replica's /metrics says it leads, 0 if it says it does not, undefined if it cannot answer. */
export async function leads(http: HttpClient): Promise<number | undefined> {
  try {
    const r = await http.request('GET', '/metrics');
    const m = /^leader_election_master_status\{[^}]*\} (\d)$/m.exec(String(r.body));
    return m ? Number(m[1]) : 0;
  } catch {
    return undefined;
  }
}

/**
 * Counts the leaders among the replicas every `everyMs` until stopped: every sample is kept, so
 * a test can check that there was never more than one.
 */
export function sampleLeaders(http: HttpClient[], everyMs = 250): { counts: number[]; now(): Promise<{ n: number; leader: number }>; stop(): Promise<void> } {
  const counts: number[] = [];
  let sampling = true;
  const now = async () => {
    const states = await Promise.all(http.map(leads));
    const n = states.filter((s) => s === 1).length;
    counts.push(n);
    return { n, leader: states.indexOf(1) };
  };
  const loop = (async () => {
    while (sampling) {
      await now();
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    counts,
    now,
    async stop() {
      sampling = false;
      await loop;
    },
  };
}
