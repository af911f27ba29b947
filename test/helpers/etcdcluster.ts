// A three-member (or n-member) etcd cluster on loopback for tests: Debian's /usr/bin/etcd, free
// ports, one temporary data directory per member. Ready once every member's /health answers
// healthy (polled with a generous bound). A member can be killed (-9) and its leader found through
// the v3 JSON gateway (/v3/maintenance/status).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ETCD_BINARY, freePort, healthy } from './etcd.ts';

export interface EtcdMember {
  name: string;
  endpoint: string;
  proc: ChildProcess;
  /** etcd's member id, as the status reports it (decimal string) */
  id?: string;
  alive(): boolean;
  kill(): Promise<void>;
}

export interface EtcdCluster {
  members: EtcdMember[];
  endpoints: string[];
  /** the member that leads now (asked of a live member) */
  leader(): Promise<EtcdMember>;
  stop(): Promise<void>;
}

const READY_BOUND_MS = 120_000;

function post(url: string, body: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', timeout: 3000, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(text));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(JSON.stringify(body));
  });
}

export async function startEtcdCluster(n = 3): Promise<EtcdCluster> {
  const ports: { client: number; peer: number }[] = [];
  for (let i = 0; i < n; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const names = ports.map((_, i) => `m${i}`);
  const initial = names.map((name, i) => `${name}=http://127.0.0.1:${ports[i].peer}`).join(',');
  const dirs: string[] = [];
  const members: EtcdMember[] = names.map((name, i) => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), `pkgserver-etcd-${name}-`));
    dirs.push(dataDir);
    const endpoint = `http://127.0.0.1:${ports[i].client}`;
    const peer = `http://127.0.0.1:${ports[i].peer}`;
    const proc = spawn(
      ETCD_BINARY,
      ['--name', name, '--data-dir', dataDir, '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `test-${process.pid}-${ports[0].client}`, '--logger', 'zap', '--log-level', 'warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr!.resume();
    const exited = once(proc, 'exit');
    const member: EtcdMember = {
      name,
      endpoint,
      proc,
      alive: () => proc.exitCode === null && proc.signalCode === null,
      kill: async () => {
        if (member.alive()) {
          proc.kill('SIGKILL');
          await exited;
        }
      },
    };
    return member;
  });
  const stop = async () => {
    await Promise.all(members.map((m) => m.kill()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  const deadline = Date.now() + READY_BOUND_MS;
  for (;;) {
    const ok = await Promise.all(members.map((m) => (m.alive() ? healthy(m.endpoint) : Promise.resolve(false))));
    if (ok.every(Boolean)) break;
    if (members.some((m) => !m.alive()) || Date.now() > deadline) {
      await stop();
      throw new Error(`the etcd cluster was not healthy within ${READY_BOUND_MS} ms`);
    }
    await delay(200); // polling interval
  }
  for (const m of members) m.id = ((await post(`${m.endpoint}/v3/maintenance/status`, {})) as { header: { member_id: string } }).header.member_id;
  return {
    members,
    endpoints: members.map((m) => m.endpoint),
    async leader() {
      for (const m of members.filter((x) => x.alive())) {
        try {
          const s = (await post(`${m.endpoint}/v3/maintenance/status`, {})) as { leader?: string };
          const leader = members.find((x) => x.id === s.leader);
          if (leader) return leader;
        } catch {
          // ask the next member
        }
      }
      throw new Error('no live member knows a leader');
    },
    stop,
  };
}
