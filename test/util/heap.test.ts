// setHeapGrowingPercent: the value it sets, the command line's value winning, and its bounds. What
// the factor does to the server's memory is measured by `npm run bench` (docs/benchmarks.md).
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DEFAULT_HEAP_GROWING_PERCENT, setHeapGrowingPercent } from '../../src/util/heap.ts';
import { ROOT } from '../helpers/server.ts';

const run = promisify(execFile);

test('sets the percent unless the command line set one, and refuses what V8 would not take', (t) => {
  t.is(setHeapGrowingPercent(DEFAULT_HEAP_GROWING_PERCENT, []), DEFAULT_HEAP_GROWING_PERCENT);
  t.is(setHeapGrowingPercent(0, []), 0);
  t.is(setHeapGrowingPercent(40, ['--import=tsx', '--heap-growing-percent=75']), 75);
  t.is(setHeapGrowingPercent(40, ['--heap_growing_percent=20']), 20);
  for (const bad of [-1, 1.5, 1001, Number.NaN]) t.throws(() => setHeapGrowingPercent(bad, []), { instanceOf: RangeError });
});

test('serve refuses a --heap-growing-percent that is not a percent, before it starts anything', async (t) => {
  for (const bad of ['abc', '=-5', '5000']) {
    const r = await run('node', ['bin/pkgserver.js', 'serve', '--data-dir', '/nonexistent/never-created', bad.startsWith('=') ? `--heap-growing-percent${bad}` : '--heap-growing-percent', ...(bad.startsWith('=') ? [] : [bad])], { cwd: ROOT }).catch((e) => e);
    t.is(r.code, 2, bad);
    t.regex(r.stderr, /--heap-growing-percent must be/, bad);
  }
});
