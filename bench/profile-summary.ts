// Summarizes the server CPU profile of a `BENCH_PROFILE=1 npm run bench` run per measured phase:
// the functions with the most self time, and the project / isomorphic-git functions with the most
// inclusive time. Run: node --import tsx bench/profile-summary.ts [phase …]
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const dir = path.join(import.meta.dirname, 'results');
const profile = JSON.parse(readFileSync(path.join(dir, 'server-cpuprofile.json'), 'utf8')) as Profile;
const marks = (JSON.parse(readFileSync(path.join(dir, 'latest.json'), 'utf8')) as { phaseMarks?: { op: string; startUs: number; endUs: number }[] }).phaseMarks;
if (!marks) throw new Error('bench/results/latest.json has no phaseMarks: run BENCH_PROFILE=1 npm run bench first');
const wanted = process.argv.slice(2);

const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (cf: CallFrame) => `${cf.functionName || '(anonymous)'} ${cf.url.split('/').at(-1) ?? ''}:${cf.lineNumber + 1}`;
const ours = (cf: CallFrame) => cf.url.includes('/src/') || cf.url.includes('isomorphic-git');

let t = profile.startTime;
const times = profile.timeDeltas.map((d) => (t += d));
const top = (m: Map<string, number>, k: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k);

for (const mark of marks) {
  if (wanted.length && !wanted.includes(mark.op)) continue;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    if (times[i] < mark.startUs || times[i] > mark.endUs) return;
    total++;
    const leaf = label(nodes.get(id)!.callFrame);
    self.set(leaf, (self.get(leaf) ?? 0) + 1);
    const seen = new Set<string>();
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const cf = nodes.get(x)!.callFrame;
      if (!ours(cf)) continue;
      const l = label(cf);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + 1);
    }
  });
  const pct = (n: number) => `${((100 * n) / Math.max(1, total)).toFixed(1).padStart(5)} %`;
  console.log(`\n=== ${mark.op}: ${total} samples over ${((mark.endUs - mark.startUs) / 1e6).toFixed(1)} s`);
  console.log('self time:');
  for (const [l, n] of top(self, 15)) console.log(`  ${pct(n)}  ${l}`);
  console.log('inclusive time (src/ and isomorphic-git):');
  for (const [l, n] of top(inclusive, 20)) console.log(`  ${pct(n)}  ${l}`);
}
