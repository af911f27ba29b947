// LongSyncGate (src/controllers/discovery.ts): discovery's keys wait while any Repository is in a
// long sync (Reconciling=True) and are released once, when the last such sync ends.
import test from 'ava';
import type { KObject } from '../../src/api/meta.ts';
import { LongSyncGate } from '../../src/controllers/discovery.ts';

const repo = (name: string, reconciling: boolean): KObject => ({
  apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
  kind: 'Repository',
  metadata: { name, namespace: 'ns' },
  status: { conditions: reconciling ? [{ type: 'Reconciling', status: 'True', reason: 'Progress', message: 'synced 500/10000 revisions' }] : [{ type: 'Ready', status: 'True', reason: 'Synced' }] },
});
const key = (name: string) => ({ namespace: 'ns', name });

test('nothing waits while no repository is in a long sync', (t) => {
  const gate = new LongSyncGate({ list: () => [repo('a', false), repo('b', false)] });
  t.false(gate.hold(key('cat.a.p.v1')));
  t.deepEqual(gate.released('MODIFIED', repo('a', false), repo('a', true)), []);
});

test('keys wait while any repository syncs; the end of the last sync releases each once', (t) => {
  let repos = [repo('a', true), repo('b', true)];
  const gate = new LongSyncGate({ list: () => repos });
  t.true(gate.hold(key('r1')));
  t.true(gate.hold(key('r2')));
  t.true(gate.hold(key('r1')), 'the same key again: kept once');
  // a ends, b still syncs: nothing yet
  repos = [repo('a', false), repo('b', true)];
  t.deepEqual(gate.released('MODIFIED', repos[0], repo('a', true)), []);
  t.true(gate.hold(key('r3')));
  // an unrelated status write of b while it syncs: nothing
  t.deepEqual(gate.released('MODIFIED', repos[1], repo('b', true)), []);
  // b ends: everything, once
  repos = [repo('a', false), repo('b', false)];
  t.deepEqual(gate.released('MODIFIED', repos[1], repo('b', true)).map((k) => k.name).sort(), ['r1', 'r2', 'r3']);
  t.deepEqual(gate.released('MODIFIED', repos[1], repo('b', true)), [], 'released already');
  t.false(gate.hold(key('r4')));
});

test('a syncing repository that is deleted releases the keys when it was the last', (t) => {
  let repos = [repo('a', true)];
  const gate = new LongSyncGate({ list: () => repos });
  t.true(gate.hold(key('r1')));
  repos = [];
  t.deepEqual(gate.released('DELETED', repo('a', true)).map((k) => k.name), ['r1']);
  // a deleted repository that was not syncing releases nothing
  t.deepEqual(gate.released('DELETED', repo('b', false)), []);
});
