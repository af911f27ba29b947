// A client-node informer whose replica is killed (issue 12): three replicas on one etcd share one
// serving certificate and one client CA (as one Secret mounted in every pod would), and the
// informer reaches them through a TCP forwarder in the test that stands in for a Service: each new
// connection goes to the first replica of its list that accepts it. The informer lists and
// watches through replica A; two writers create, label and delete Repositories through B and C
// before, during and after A is killed with SIGKILL. The informer's watch breaks, its reconnect
// lands on B, and it resumes from its last resourceVersion (etcd's revision, the same on every
// replica) without relisting: it ends with the server's state, every acknowledged write seen once
// with its exact resourceVersion, nothing twice, each object's events in increasing order.
import test, { type ExecutionContext } from 'ava';
import * as k8s from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensurePKI, kubeconfigYAML } from '../src/cli/pki.ts';
import { startEtcd, type EtcdHandle } from './helpers/etcd.ts';
import { Recorder, Repos, reposPath, startedRequests, type Recorded, type Repo } from './helpers/clientnode.ts';
import { poll } from './helpers/poll.ts';
import { startServer, tempDir, type ServerHandle } from './helpers/server.ts';

const NS = 'informer-failover';
/** writes per writer; the kill comes after KILL_AFTER acknowledged writes in all */
const WRITES = 30;
const KILL_AFTER = 20;

let etcd: EtcdHandle | undefined;
const servers: ServerHandle[] = [];
let forwarder: Forwarder | undefined;
let recorder: Recorder | undefined;

test.after.always(async () => {
  await recorder?.stop().catch(() => undefined);
  await forwarder?.close();
  await Promise.all(servers.map((s) => s.kill()));
  await etcd?.stop();
});

interface Forwarder {
  port: number;
  /** the endpoint index each accepted connection was sent to, in order, with when */
  log: { endpoint: number; at: number }[];
  close(): Promise<void>;
}

/**
 * A Service in front of the replicas, as far as a client can tell: a loopback TCP listener that
 * sends each new connection to the first endpoint that accepts one (the next on ECONNREFUSED or
 * any other connect error), and closes the client's side when the replica's side breaks.
 */
async function startForwarder(endpoints: number[]): Promise<Forwarder> {
  const log: Forwarder['log'] = [];
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    track(client);
    client.pause();
    client.on('error', () => undefined);
    const attempt = (i: number) => {
      if (i >= endpoints.length || client.destroyed) return void client.destroy();
      const upstream = net.connect({ host: '127.0.0.1', port: endpoints[i] });
      const onConnectError = () => attempt(i + 1);
      upstream.once('error', onConnectError);
      upstream.once('connect', () => {
        upstream.off('error', onConnectError);
        track(upstream);
        log.push({ endpoint: i, at: Date.now() });
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.on('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const portOf = (h: ServerHandle) => Number(new URL(h.url).port);

interface Ack {
  op: 'create' | 'update' | 'delete';
  name: string;
  uid: string;
  rv: string;
  labels: Record<string, string>;
}

const EVENT_OF: Record<Ack['op'], Recorded['type']> = { create: 'add', update: 'update', delete: 'delete' };

/**
 * One writer: op i creates (i % 5 = 0, 1), sets a label on one of its living Repositories
 * (2, 3) or deletes the oldest of them (4). Each acknowledged write is recorded with the
 * resourceVersion the server answered.
 */
async function writer(repos: Repos, prefix: string, acks: Ack[], onAck: () => void): Promise<void> {
  const living: string[] = [];
  let created = 0;
  const ack = (op: Ack['op'], o: Repo) => {
    acks.push({ op, name: o.metadata.name, uid: o.metadata.uid, rv: o.metadata.resourceVersion, labels: o.metadata.labels ?? {} });
    onAck();
  };
  for (let i = 0; i < WRITES; i++) {
    const kind = i % 5;
    if (kind <= 1 || living.length === 0) {
      const name = `${prefix}-${created++}`;
      ack('create', await repos.create(NS, name, `https://git.example.com/${NS}/${name}.git`, { writer: prefix }));
      living.push(name);
    } else if (kind <= 3) {
      const name = living[i % living.length];
      ack('update', await repos.mergePatch(NS, name, { metadata: { labels: { step: String(i) } } }));
    } else {
      ack('delete', await repos.delete(NS, living.shift()!));
    }
  }
}

interface RawEvent {
  type: string;
  uid: string;
  rv: string;
}

/**
 * What the server sent the informer, below client-node's cache (which drops an ADDED or MODIFIED
 * of a resourceVersion it already has, so a server that repeated events would not show in the
 * informer's callbacks): every watch event, and the resourceVersion each watch asked for.
 */
function tapWatch(r: Recorder, acks: Ack[]): { events: RawEvent[]; starts: string[]; startedAfter: number[] } {
  const tap = { events: [] as RawEvent[], starts: [] as string[], startedAfter: [] as number[] };
  const watch = (r.informer as unknown as { watch: k8s.Watch }).watch;
  const original = watch.watch.bind(watch);
  watch.watch = (path, query, callback, done) => {
    tap.starts.push(String(query.resourceVersion ?? ''));
    tap.startedAfter.push(acks.length);
    return original(
      path,
      query,
      (type, obj, raw) => {
        if (type !== 'BOOKMARK') tap.events.push({ type, uid: obj?.metadata?.uid, rv: obj?.metadata?.resourceVersion });
        callback(type, obj, raw);
      },
      done,
    );
  };
  return tap;
}

const summary = (o: Repo) => ({ name: o.metadata.name, uid: o.metadata.uid, rv: o.metadata.resourceVersion, labels: o.metadata.labels ?? {} });

function assertEventsPerObjectIncrease(t: ExecutionContext, events: Recorded[]): void {
  const byUid = new Map<string, number[]>();
  for (const e of events) byUid.set(e.uid, [...(byUid.get(e.uid) ?? []), Number(e.rv)]);
  const notIncreasing = [...byUid].filter(([, rvs]) => rvs.some((v, i) => i > 0 && v <= rvs[i - 1]));
  t.deepEqual(notIncreasing, [], 'each object\'s events come in increasing resourceVersion order');
}

test('a client-node informer whose replica is killed reconnects to another through the Service and ends with the same state, each write seen once', async (t) => {
  t.timeout(600_000);
  // --- one serving certificate and one client CA for all replicas (one Secret in every pod)
  const pki = tempDir('pkgserver-ha-pki-');
  const { paths, files } = await ensurePKI(pki, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const tlsArgs = ['--tls-cert-file', paths.servingCert, '--tls-private-key-file', paths.servingKey, '--client-ca-file', paths.caCert];

  etcd = await startEtcd();
  const prefix = `/pkgserver-ha-informer-${process.pid}/`;
  const args = ['--storage-backend', 'etcd3', '--etcd-servers', etcd.endpoint, '--etcd-prefix', prefix, ...tlsArgs];
  servers.push(...(await Promise.all([0, 1, 2].map(() => startServer({ controllers: false, args })))));
  const [A, B, C] = servers;

  const kubeconfigFor = (server: string) => {
    const file = path.join(pki, `kubeconfig-${new URL(server).port}`);
    writeFileSync(file, kubeconfigYAML({ server, caCert: files.caCert, clientCert: files.adminCert, clientKey: files.adminKey }));
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(file);
    return kc;
  };
  forwarder = await startForwarder([A, B, C].map(portOf));
  const serviceKC = kubeconfigFor(`https://127.0.0.1:${forwarder.port}`);
  const reposB = new Repos(kubeconfigFor(B.url));
  const reposC = new Repos(kubeconfigFor(C.url));

  // one kubeconfig works against every replica
  for (const h of servers) t.deepEqual((await new Repos(kubeconfigFor(h.url)).list(NS)).items, [], `replica ${h.url} answers the shared kubeconfig`);

  // --- a few Repositories before the informer starts (its initial list)
  const acks: Ack[] = [];
  for (let i = 0; i < 3; i++) {
    const o = await reposC.create(NS, `pre-${i}`, `https://git.example.com/${NS}/pre-${i}.git`);
    acks.push({ op: 'create', name: o.metadata.name, uid: o.metadata.uid, rv: o.metadata.resourceVersion, labels: o.metadata.labels ?? {} });
  }

  // --- the informer, through the Service; it lands on A (the first endpoint)
  recorder = new Recorder(serviceKC, new Repos(serviceKC), NS, { restartOnError: true, retryMs: 200 });
  const r = recorder;
  const tap = tapWatch(r, acks);
  await r.start();
  t.is(r.lists.length, 1);
  t.deepEqual(r.cache().map(summary), acks.map(({ name, uid, rv, labels }) => ({ name, uid, rv, labels })), 'the initial list');
  await poll('the informer\'s watch is open on A', async () => (startedRequests(A, reposPath(NS)).watches.length === 1 ? true : undefined), 60_000);
  t.true(forwarder.log.every((c) => c.endpoint === 0), 'list and watch went to A');
  const connectsBefore = r.connects;

  // --- two writers through B and C; A is killed once KILL_AFTER writes were acknowledged
  let acked = 0;
  let reachedKillPoint!: () => void;
  const killPoint = new Promise<void>((resolve) => (reachedKillPoint = resolve));
  const onAck = () => {
    if (++acked === KILL_AFTER) reachedKillPoint();
  };
  const writers = Promise.all([writer(reposB, 'b', acks, onAck), writer(reposC, 'c', acks, onAck)]);
  await killPoint;
  const eventsAtKill = r.events.length;
  const errorsAtKill = r.errors.length;
  const killedAt = Date.now();
  // the informer stays away a little, so that writes made meanwhile must be replayed on B
  r.reconnect = false;
  await A.kill();
  await poll('the informer sees its watch on A break', async () => (r.errors.length > errorsAtKill ? true : undefined), 60_000, 10);
  t.is(tap.starts.length, 1, 'no new watch yet');
  // the last resourceVersion the informer had from A: its watch on B must start there
  const lastFromA = r.resourceVersion;
  const ackedAway = acked;
  // 8 acknowledged from here: at most one write per writer was in flight (and may have reached
  // the informer from A), so at least 6 are newer than lastFromA
  await poll('writes while the informer is away', async () => (acked >= ackedAway + 8 ? true : undefined), 60_000, 10);
  r.reconnect = true;
  await writers;
  t.is(acks.length, 3 + 2 * WRITES);

  // --- the informer ends with the server's state (read on a surviving replica)
  const expected = async () => (await reposB.list(NS)).items.map(summary);
  await poll(
    'the informer\'s cache equals the list on B',
    async () => {
      const want = await expected();
      return JSON.stringify(r.cache().map(summary)) === JSON.stringify(want) ? true : undefined;
    },
    60_000,
  );
  t.deepEqual(r.cache().map(summary), await expected());
  t.deepEqual(r.cache(), (await reposC.list(NS)).items, 'the cache holds exactly the objects C lists');

  // --- it reconnected to another replica, and resumed its watch there without a relist
  const after = forwarder.log.filter((c) => c.at >= killedAt);
  t.true(after.length >= 1, 'a new connection after the kill');
  t.true(after.every((c) => c.endpoint !== 0), `connections after the kill went to B or C: ${JSON.stringify(after)}`);
  t.true(r.connects > connectsBefore, `the informer reconnected (${connectsBefore} → ${r.connects} connects)`);
  t.true(r.events.length > eventsAtKill, 'events arrived after the kill');
  t.is(r.lists.length, 1, `the informer resumed its watch from its resourceVersion and did not relist (lists at ${r.lists.join(', ')})`);
  const onB = startedRequests(B, reposPath(NS));
  t.is(onB.watches.length, 1, `one watch on B: ${onB.watches.join(' ')}`);
  t.deepEqual(tap.starts.slice(0, 1), [r.lists[0]], 'the first watch started at the list\'s resourceVersion');
  t.is(tap.starts.length, 2, `two watches: on A and on B (${tap.starts.join(', ')})`);
  t.is(onB.watches[0], `${reposPath(NS)}?watch=true&resourceVersion=${tap.starts[1]}`, 'the watch on B resumed from the informer\'s resourceVersion');
  t.is(tap.starts[1], lastFromA, 'the last resourceVersion the informer had from A');
  const replayed = acks.slice(0, tap.startedAfter[1]).filter((a) => Number(a.rv) > Number(lastFromA));
  t.true(replayed.length >= 6, `${replayed.length} writes acknowledged while the informer was away (replayed from B's window)`);

  // --- no duplicate, no missed write, per-object order
  const keys = r.events.map((e) => `${e.uid}@${e.rv}`);
  t.deepEqual(
    keys.filter((k, i) => keys.indexOf(k) !== i),
    [],
    'no event (uid@resourceVersion) delivered twice',
  );
  const seen = new Set(r.events.map((e) => `${e.type} ${e.uid}@${e.rv}`));
  const missed = acks.filter((a) => !seen.has(`${EVENT_OF[a.op]} ${a.uid}@${a.rv}`));
  t.deepEqual(missed, [], 'every acknowledged write was seen with its exact resourceVersion');
  t.is(r.events.length, acks.length, 'one event per acknowledged write, nothing else');
  assertEventsPerObjectIncrease(t, r.events);
  // the server's streams (A's, then B's) carried each write made after the list exactly once
  const rawKeys = tap.events.map((e) => `${e.uid}@${e.rv}`);
  t.deepEqual(
    rawKeys.filter((k, i) => rawKeys.indexOf(k) !== i),
    [],
    'the server sent no event twice across the two watches',
  );
  t.deepEqual(
    tap.events.map((e) => `${e.type} ${e.uid}@${e.rv}`),
    acks.slice(3).sort((x, y) => Number(x.rv) - Number(y.rv)).map((a) => `${{ create: 'ADDED', update: 'MODIFIED', delete: 'DELETED' }[a.op]} ${a.uid}@${a.rv}`),
    'the watch events are exactly the acknowledged writes, in revision order',
  );
  // on one stream, resumed where it stopped, the watch's events are in revision order overall
  const watched = r.events.slice(3).map((e) => Number(e.rv));
  t.deepEqual(watched, [...watched].sort((x, y) => x - y), 'watch events in increasing resourceVersion order');
  t.log(`errors: ${r.errors.map((e) => (e as Error).message ?? String(e)).join('; ')}`);
  t.log(`${acks.length} writes, ${r.events.length} events, ${r.errors.length} watch errors, ${r.connects} connects, connections: ${forwarder.log.map((c) => 'ABC'[c.endpoint]).join('')}`);
});
