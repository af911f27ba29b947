// Watch fan-out (SPEC 9: 200 watchers, an event reaches all of them within 50 ms p99 after the
// write returns): opens `watchers` namespace-wide watch streams, makes `writes` label patches of
// one object one after another, and measures for every watcher and write the time from the write's
// response to the arrival of its MODIFIED event (0 when the event arrived first).
import https from 'node:https';
import type { ClientRequest } from 'node:http';
import { percentile, now, type Summary, summarize } from './stats.ts';
import { onWatchEvents, type BenchClient, type TLSMaterial } from './client.ts';

export interface FanoutResult {
  watchers: number;
  writes: number;
  latency: Summary & { p99: number };
  /** events that never arrived (should be 0) */
  missing: number;
  budgetP99Ms: number;
}

export async function watchFanout(opts: {
  baseURL: string;
  tls: TLSMaterial;
  client: BenchClient;
  namespace: string;
  name: string;
  watchers: number;
  writes: number;
}): Promise<FanoutResult> {
  const { namespace, name } = opts;
  const collection = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${namespace}/packagerevisions`;
  const rv = (await opts.client.ok('GET', `${collection}?limit=1`)).json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion;
  const base = new URL(opts.baseURL);
  const agent = new https.Agent({ keepAlive: false, maxSockets: Infinity, ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key });
  /** per watcher: resourceVersion → arrival time */
  const arrivals: Map<string, number>[] = [];
  const requests: ClientRequest[] = [];
  await Promise.all(
    Array.from({ length: opts.watchers }, (_, i) => {
      const seen = new Map<string, number>();
      arrivals.push(seen);
      return new Promise<void>((resolve, reject) => {
        const req = https.request(
          { hostname: base.hostname, port: base.port, path: `${collection}?watch=true&resourceVersion=${rv}`, headers: { Accept: 'application/json' }, agent },
          (res) => {
            if (res.statusCode !== 200) return reject(new Error(`watcher ${i}: HTTP ${res.statusCode}`));
            onWatchEvents<{ type: string; object: { metadata: { name: string; resourceVersion: string } } }>(res, (ev) => {
              if (ev.type === 'MODIFIED' && ev.object.metadata.name === name) seen.set(ev.object.metadata.resourceVersion, now());
            });
            res.on('error', () => undefined);
            resolve(); // headers arrived: the watch is established
          },
        );
        req.on('error', reject);
        req.end();
        requests.push(req);
      });
    }),
  );

  const acks: { rv: string; at: number }[] = [];
  for (let i = 0; i < opts.writes; i++) {
    const r = await opts.client.ok('PATCH', `${collection}/${name}`, {
      body: { metadata: { labels: { 'bench-fanout': String(i) } } },
      contentType: 'application/merge-patch+json',
    });
    acks.push({ rv: r.json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion, at: now() });
    await new Promise((res) => setTimeout(res, 20));
  }
  // let the last events arrive
  const deadline = now() + 5000;
  while (now() < deadline && arrivals.some((a) => acks.some((k) => !a.has(k.rv)))) await new Promise((res) => setTimeout(res, 20));
  for (const r of requests) r.destroy();
  agent.destroy();

  const samples: number[] = [];
  let missing = 0;
  for (const a of arrivals)
    for (const k of acks) {
      const t = a.get(k.rv);
      if (t === undefined) missing++;
      else samples.push(Math.max(0, t - k.at));
    }
  const sorted = [...samples].sort((x, y) => x - y);
  return { watchers: opts.watchers, writes: opts.writes, latency: { ...summarize(samples), p99: percentile(sorted, 99) }, missing, budgetP99Ms: 50 };
}
