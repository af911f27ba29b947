// followFile/followFiles and derived: first read, reload on change (also by atomic rename), the
// last good value kept when a change cannot be parsed, errors reported once per version.
import test from 'ava';
import { renameSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { followFile, followFiles } from '../../src/util/filewatch.ts';
import { derived } from '../../src/util/dynamic.ts';
import { constant } from '../../src/apiserver/authn/types.ts';
import { poll } from '../helpers/poll.ts';
import { tempDir } from '../helpers/server.ts';

const parseNumber = (t: string) => {
  const n = Number(t.trim());
  if (!Number.isInteger(n)) throw new Error(`not an integer: ${t.trim()}`);
  return n;
};

test('followFile reads at once, reloads on change and on an atomic rename, keeps the last good value', async (t) => {
  const dir = tempDir('follow-');
  const f = path.join(dir, 'n');
  writeFileSync(f, '1');
  const errors: string[] = [];
  const seen: number[] = [];
  const d = followFile(f, { parse: parseNumber, intervalMs: 20, onError: (e) => errors.push(e.message) });
  t.teardown(() => d.stop());
  d.onChange((v) => seen.push(v));
  t.is(d.current(), 1);

  writeFileSync(f, '22');
  await poll('reload', async () => (d.current() === 22 ? true : undefined));

  writeFileSync(path.join(dir, 'tmp'), '333');
  renameSync(path.join(dir, 'tmp'), f);
  await poll('reload after rename', async () => (d.current() === 333 ? true : undefined));

  writeFileSync(f, 'not a number');
  await poll('error reported', async () => (errors.length ? true : undefined));
  t.is(d.current(), 333, 'the last good value stays');
  // the same bad version is reported once
  await new Promise((r) => setTimeout(r, 200));
  t.deepEqual(errors, ['not an integer: not a number']);

  rmSync(f);
  await poll('missing file reported', async () => (errors.length === 2 ? true : undefined));
  t.is(d.current(), 333);
  writeFileSync(f, '4444');
  await poll('back', async () => (d.current() === 4444 ? true : undefined));
  t.deepEqual(seen, [22, 333, 4444]);
});

test('followFile throws at once for a missing or invalid file', (t) => {
  const dir = tempDir('follow-');
  t.throws(() => followFile(path.join(dir, 'absent'), { parse: parseNumber }), { code: 'ENOENT' });
  writeFileSync(path.join(dir, 'bad'), 'x');
  t.throws(() => followFile(path.join(dir, 'bad'), { parse: parseNumber }), { message: 'not an integer: x' });
});

test('followFiles parses several files together; derived recomputes and notifies only on change', async (t) => {
  const dir = tempDir('follow-');
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  writeFileSync(a, '1');
  writeFileSync(b, '2');
  const sum = followFiles([a, b], { parse: (texts) => texts.map(parseNumber).reduce((x, y) => x + y, 0), intervalMs: 20 });
  t.teardown(() => sum.stop());
  const parity = derived([sum, constant('x')], () => (sum.current() % 2 === 0 ? 'even' : 'odd'));
  const heard: string[] = [];
  parity.onChange((v) => heard.push(v));
  t.is(parity.current(), 'odd');
  writeFileSync(b, '4'); // 5: still odd, no notification
  await poll('sum 5', async () => (sum.current() === 5 ? true : undefined));
  writeFileSync(a, '2'); // 6: even
  await poll('even', async () => (parity.current() === 'even' ? true : undefined));
  t.deepEqual(heard, ['even']);
});
