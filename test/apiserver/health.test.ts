import test from 'ava';
import { Writable } from 'node:stream';
import pino from 'pino';
import { HealthChecks, type HealthCheck } from '../../src/apiserver/health.ts';

const TEXT = 'text/plain; charset=utf-8';

/** A real pino logger whose JSON lines are kept. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

const q = (s = '') => new URLSearchParams(s);
const pass = (name: string): HealthCheck => ({ name, check: () => {} });
/** an asynchronous check that fails while `state.down` */
const storeCheck = (state: { down: boolean }): HealthCheck => ({
  name: 'store',
  async check() {
    await Promise.resolve();
    if (state.down) throw new Error('database is locked at /secret/path');
  },
});
const store = storeCheck({ down: false });
const controllers: HealthCheck = { name: 'controllers', check: () => { throw new Error('not started'); } };

test('all checks pass: ok, or the lines with ?verbose', async (t) => {
  const { log } = capture();
  const h = new HealthChecks('livez', [pass('store'), pass('watch-cache')], log);
  t.deepEqual(await h.handle('/livez', q()), { code: 200, body: 'ok', contentType: TEXT });
  t.deepEqual(await h.handle('/livez', q('verbose')), {
    code: 200,
    body: '[+]ping ok\n[+]store ok\n[+]watch-cache ok\nlivez check passed\n',
    contentType: TEXT,
  });
  t.deepEqual(await h.handle('/livez', q('verbose=false')), (await h.handle('/livez', q('verbose'))), 'verbose is a presence flag, as in kube');
});

test('ping is there with no checks', async (t) => {
  const h = new HealthChecks('healthz', [], capture().log);
  t.deepEqual(await h.handle('/healthz', q('verbose=1')), { code: 200, body: '[+]ping ok\nhealthz check passed\n', contentType: TEXT });
  t.deepEqual(await h.handle('/healthz/ping', q()), { code: 200, body: 'ok', contentType: TEXT });
});

test('a failure is 500, always verbose, reason withheld from the client and logged', async (t) => {
  const { log, lines } = capture();
  const state = { down: true };
  const h = new HealthChecks('readyz', [storeCheck(state), pass('watch-cache'), controllers], log);
  for (const query of [q(), q('verbose')]) {
    t.deepEqual(await h.handle('/readyz', query), {
      code: 500,
      body: '[+]ping ok\n[-]store failed: reason withheld\n[+]watch-cache ok\n[-]controllers failed: reason withheld\nreadyz check failed\n',
      contentType: TEXT,
    });
  }
  t.is(lines.length, 2);
  t.like(lines[0], {
    level: 40,
    msg: 'store,controllers check failed: readyz',
    checks: { store: 'database is locked at /secret/path', controllers: 'not started' },
  });
  state.down = false;
  t.deepEqual(await h.handle('/readyz', q('exclude=controllers&verbose')), {
    code: 200,
    body: '[+]ping ok\n[+]store ok\n[+]watch-cache ok\n[+]controllers excluded: ok\nreadyz check passed\n',
    contentType: TEXT,
  });
});

test('?exclude skips checks; unknown names get kube warning', async (t) => {
  const h = new HealthChecks('livez', [store, controllers], capture().log);
  t.deepEqual(await h.handle('/livez', q('exclude=controllers&verbose')), {
    code: 200,
    body: '[+]ping ok\n[+]store ok\n[+]controllers excluded: ok\nlivez check passed\n',
    contentType: TEXT,
  });
  t.deepEqual(await h.handle('/livez', q('exclude=controllers&exclude=zeta&exclude=alpha&exclude=zeta&verbose')), {
    code: 200,
    body: '[+]ping ok\n[+]store ok\n[+]controllers excluded: ok\nwarn: some health checks cannot be excluded: no matches for "alpha","zeta"\nlivez check passed\n',
    contentType: TEXT,
  });
  t.deepEqual(await h.handle('/livez', q('exclude=controllers&exclude=nope')), { code: 200, body: 'ok', contentType: TEXT });
  t.deepEqual(await h.handle('/livez', q('exclude=ping&exclude=x%22y')), {
    code: 500,
    body: '[+]ping excluded: ok\n[+]store ok\n[-]controllers failed: reason withheld\nwarn: some health checks cannot be excluded: no matches for "x\\"y"\nlivez check failed\n',
    contentType: TEXT,
  });
});

test('one check by name; unknown paths are 404', async (t) => {
  const { log, lines } = capture();
  const h = new HealthChecks('livez', [store, controllers], log);
  t.deepEqual(await h.handle('/livez/store', q()), { code: 200, body: 'ok', contentType: TEXT });
  t.deepEqual(await h.handle('/livez/controllers', q('verbose')), { code: 500, body: 'internal server error: reason withheld\n', contentType: TEXT });
  t.like(lines[0], { level: 40, msg: 'livez check controllers failed', check: 'controllers', reason: 'not started' });
  for (const p of ['/livez/nope', '/livez/', '/livez/store/x', '/readyz', '/livezz']) {
    t.deepEqual(await h.handle(p, q()), { code: 404, body: '404 page not found\n', contentType: TEXT }, p);
  }
});

test('check names are unique', (t) => {
  const { log } = capture();
  t.throws(() => new HealthChecks('livez', [pass('a'), pass('a')], log), { message: 'duplicate livez check "a"' });
  t.throws(() => new HealthChecks('readyz', [pass('ping')], log), { message: 'duplicate readyz check "ping"' });
});
