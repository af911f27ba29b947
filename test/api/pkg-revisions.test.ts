// Revision constraints (src/api/pkg.ts): which strings are constraints, which revisions satisfy
// them, and which published revision a constraint picks. Revisions are v<N> (made by the server)
// or v<N>.<N>[.<N>] (tags made outside it); a constraint is "" or "*" (any), an exact revision,
// exact revisions joined by "||" (what dependency discovery writes), or a semver range whose
// versions may carry a "v".
import test from 'ava';
import { pickRevision, satisfiesRevision, validRevisionConstraint } from '../../src/api/pkg.ts';

test('validRevisionConstraint: any, exact revisions, semver ranges (with or without "v")', (t) => {
  for (const c of ['', '*', 'v1', 'v2', 'v10', 'v1.2', 'v1.2.3', '>=1.2.0 <2', '>=v1.2 <v2', '^1', '^v1', '~1.2', '~v1.2', '1.x', 'v1.x', '1 - 3', 'v1 - v3', 'v1 || v3', 'v1||v3', '2', '=v2', '<3'])
    t.true(validRevisionConstraint(c), JSON.stringify(c));
});

test('validRevisionConstraint: garbage is no constraint', (t) => {
  for (const c of ['latest', 'main', 'garbage', 'v', 'V1', 'v1.2.3.4', '1.2.3.4', '>=', 'v1 v2 ~', '>>1', 'v1.2.3-', '^^1'])
    t.false(validRevisionConstraint(c), JSON.stringify(c));
});

test('satisfiesRevision: "", "*" and an absent constraint are satisfied by any revision', (t) => {
  for (const r of ['v1', 'v2.3', 'v10']) {
    t.true(satisfiesRevision(r, ''), r);
    t.true(satisfiesRevision(r, '*'), r);
    t.true(satisfiesRevision(r, undefined), r);
  }
});

test('satisfiesRevision: an exact revision is satisfied by that revision only', (t) => {
  t.true(satisfiesRevision('v2', 'v2'));
  t.false(satisfiesRevision('v1', 'v2'));
  t.false(satisfiesRevision('v2.1', 'v2'), 'an exact revision is no major range');
  t.false(satisfiesRevision('v2', 'v2.0'), 'v2.0 and v2 are different revisions');
  t.true(satisfiesRevision('v1.2.3', 'v1.2.3'));
  t.false(satisfiesRevision('v1.2.4', 'v1.2.3'));
  t.false(satisfiesRevision('v20', 'v2'));
});

test('satisfiesRevision: semver ranges over revisions read as versions (v2 = 2.0.0, v1.2 = 1.2.0)', (t) => {
  const cases: [string, string, boolean][] = [
    ['v1', '>=1.2.0 <2', false],
    ['v1.2', '>=1.2.0 <2', true],
    ['v1.9.9', '>=1.2.0 <2', true],
    ['v2', '>=1.2.0 <2', false],
    ['v1', '^1', true],
    ['v1.5', '^1', true],
    ['v2', '^1', false],
    ['v1.5', '^v1', true],
    ['v1.5', '>=v1.2 <v2', true],
    ['v1.2.7', '~1.2', true],
    ['v1.3', '~1.2', false],
    ['v3', '>=2', true],
    ['v10', '>=2', true],
    ['v1', '>=2', false],
    ['v2', '2', true],
    ['v2.5', '2', true],
    ['v3', '2', false],
  ];
  for (const [revision, constraint, want] of cases) t.is(satisfiesRevision(revision, constraint), want, `${revision} ${constraint}`);
});

test('satisfiesRevision: revisions joined by "||" are exact revisions', (t) => {
  t.true(satisfiesRevision('v1', 'v1 || v3'));
  t.true(satisfiesRevision('v3', 'v1 || v3'));
  t.true(satisfiesRevision('v3', 'v1||v3'));
  t.false(satisfiesRevision('v2', 'v1 || v3'));
  // a tag made outside the server (v3.1) does not serve what v1 and v3 serve
  t.false(satisfiesRevision('v3.1', 'v1 || v3'));
  t.false(satisfiesRevision('v1.2', 'v1 || v3'));
  t.true(satisfiesRevision('v1.2', 'v1.2 || v3'));
  // ranges among the alternatives: a semver range as a whole
  t.true(satisfiesRevision('v2.4', '^2 || v5'));
  t.true(satisfiesRevision('v5.1', '^2 || v5'));
});

test('satisfiesRevision: a garbage constraint or a revision that is no version satisfies nothing', (t) => {
  t.false(satisfiesRevision('v1', 'latest'));
  t.false(satisfiesRevision('v1', 'v1.2.3.4'));
  t.false(satisfiesRevision('v1', 'V1'));
  t.false(satisfiesRevision('main', '^1'));
  t.false(satisfiesRevision('', '^1'));
  t.false(satisfiesRevision('main', 'v1'));
});

const PUBLISHED = ['v1', 'v2', 'v1.2', 'v10', 'v1.10', 'v3'];

test('pickRevision: the newest published revision satisfying the constraint, ordered as semver', (t) => {
  t.is(pickRevision(PUBLISHED, '*'), 'v10');
  t.is(pickRevision(PUBLISHED, ''), 'v10');
  t.is(pickRevision(PUBLISHED, undefined), 'v10');
  t.is(pickRevision(PUBLISHED, 'v2'), 'v2');
  t.is(pickRevision(PUBLISHED, 'v1'), 'v1');
  t.is(pickRevision(PUBLISHED, 'v1.2'), 'v1.2');
  t.is(pickRevision(PUBLISHED, '^1'), 'v1.10', 'v1.10 is newer than v1.2');
  t.is(pickRevision(PUBLISHED, '>=1.2.0 <2'), 'v1.10');
  t.is(pickRevision(PUBLISHED, '<1.2'), 'v1');
  t.is(pickRevision(PUBLISHED, '>=2 <10'), 'v3');
  t.is(pickRevision(PUBLISHED, 'v1 || v3'), 'v3');
  t.is(pickRevision(PUBLISHED, 'v1 || v2'), 'v2', 'not v1.10, which is no listed revision');
});

test('pickRevision: nothing published, nothing satisfying, or no constraint: undefined', (t) => {
  t.is(pickRevision([], '*'), undefined);
  t.is(pickRevision([], undefined), undefined);
  t.is(pickRevision(PUBLISHED, 'v4'), undefined);
  t.is(pickRevision(PUBLISHED, '>=11'), undefined);
  t.is(pickRevision(PUBLISHED, 'latest'), undefined);
});

test('pickRevision leaves the list it is given as it was', (t) => {
  const published = ['v2', 'v1', 'v3'];
  t.is(pickRevision(published, '*'), 'v3');
  t.deepEqual(published, ['v2', 'v1', 'v3']);
});
