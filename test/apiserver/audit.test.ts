import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import pino from 'pino';
import { AuditLog, auditEvent, auditIDFrom, microTime, newAuditID, sourceIPs, type AuditRequestInfo } from '../../src/apiserver/audit.ts';

const tmpDirs: string[] = [];
async function tmpDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pkgserver-audit-'));
  tmpDirs.push(dir);
  return dir;
}
test.after.always(async () => {
  await Promise.all(tmpDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A real pino logger whose JSON lines are kept. */
function capture() {
  const lines: Record<string, any>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

const RECEIVED = new Date(Date.UTC(2026, 10, 26, 6, 30, 0, 123));
const DONE = new Date(Date.UTC(2026, 10, 26, 6, 30, 0, 456));

const getRequest: AuditRequestInfo = {
  auditID: '4c6b0a8e-8d4c-4e55-9a8e-2b1f0c9d7e11',
  requestURI: '/apis/pkg.pkgserver.dev/v1alpha1/namespaces/team-a/packagerevisions/c1.deploy.infra.nginx.ws1',
  verb: 'get',
  user: { name: 'admin', groups: ['system:masters', 'system:authenticated'], extra: { 'z.example/b': ['2'], 'a.example/a': ['1'] } },
  sourceIPs: ['10.0.0.7', '127.0.0.1'],
  userAgent: 'kubectl/v1.33.1 (linux/amd64) kubernetes/8adc0f0',
  objectRef: { resource: 'packagerevisions', namespace: 'team-a', name: 'c1.deploy.infra.nginx.ws1', apiGroup: 'pkg.pkgserver.dev', apiVersion: 'v1alpha1' },
  requestReceived: RECEIVED,
};

test('a successful request: exact Event shape at each stage', (t) => {
  t.is(
    JSON.stringify(auditEvent('ResponseComplete', getRequest, { code: 200, annotations: { 'authorization.k8s.io/reason': '', 'authorization.k8s.io/decision': 'allow' } }, DONE)),
    '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"4c6b0a8e-8d4c-4e55-9a8e-2b1f0c9d7e11","stage":"ResponseComplete",' +
      '"requestURI":"/apis/pkg.pkgserver.dev/v1alpha1/namespaces/team-a/packagerevisions/c1.deploy.infra.nginx.ws1","verb":"get",' +
      '"user":{"username":"admin","groups":["system:masters","system:authenticated"],"extra":{"a.example/a":["1"],"z.example/b":["2"]}},' +
      '"sourceIPs":["10.0.0.7","127.0.0.1"],"userAgent":"kubectl/v1.33.1 (linux/amd64) kubernetes/8adc0f0",' +
      '"objectRef":{"resource":"packagerevisions","namespace":"team-a","name":"c1.deploy.infra.nginx.ws1","apiGroup":"pkg.pkgserver.dev","apiVersion":"v1alpha1"},' +
      '"responseStatus":{"metadata":{},"code":200},' +
      '"requestReceivedTimestamp":"2026-11-26T06:30:00.123000Z","stageTimestamp":"2026-11-26T06:30:00.456000Z",' +
      '"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}',
  );
  // RequestReceived: no response yet, stamped with the time the request arrived
  t.deepEqual(auditEvent('RequestReceived', getRequest, undefined, DONE), {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: '4c6b0a8e-8d4c-4e55-9a8e-2b1f0c9d7e11',
    stage: 'RequestReceived',
    requestURI: '/apis/pkg.pkgserver.dev/v1alpha1/namespaces/team-a/packagerevisions/c1.deploy.infra.nginx.ws1',
    verb: 'get',
    user: { username: 'admin', groups: ['system:masters', 'system:authenticated'], extra: { 'a.example/a': ['1'], 'z.example/b': ['2'] } },
    sourceIPs: ['10.0.0.7', '127.0.0.1'],
    userAgent: 'kubectl/v1.33.1 (linux/amd64) kubernetes/8adc0f0',
    objectRef: { resource: 'packagerevisions', namespace: 'team-a', name: 'c1.deploy.infra.nginx.ws1', apiGroup: 'pkg.pkgserver.dev', apiVersion: 'v1alpha1' },
    requestReceivedTimestamp: '2026-11-26T06:30:00.123000Z',
    stageTimestamp: '2026-11-26T06:30:00.123000Z',
  });
});

test('a 403 with an impersonated user: exact Event shape', (t) => {
  const req: AuditRequestInfo = {
    auditID: 'a1',
    requestURI: '/apis/pkg.pkgserver.dev/v1alpha1/namespaces/team-a/packagerevisions?limit=500',
    verb: 'list',
    user: { name: 'admin', uid: 'u-1', groups: ['system:masters'] },
    impersonatedUser: { name: 'user-2', groups: ['devs', 'system:authenticated'] },
    sourceIPs: ['::1'],
    objectRef: { resource: 'packagerevisions', namespace: 'team-a', apiGroup: 'pkg.pkgserver.dev', apiVersion: 'v1alpha1' },
    requestReceived: RECEIVED,
  };
  const message = 'packagerevisions.pkg.pkgserver.dev is forbidden: User "user-2" cannot list resource "packagerevisions" in API group "pkg.pkgserver.dev" in the namespace "team-a"';
  const ev = auditEvent(
    'ResponseComplete',
    req,
    {
      code: 403,
      status: { status: 'Failure', reason: 'Forbidden', message, details: { group: 'pkg.pkgserver.dev', kind: 'packagerevisions' } },
      annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' },
    },
    DONE,
  );
  t.is(
    JSON.stringify(ev),
    '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete",' +
      '"requestURI":"/apis/pkg.pkgserver.dev/v1alpha1/namespaces/team-a/packagerevisions?limit=500","verb":"list",' +
      '"user":{"username":"admin","uid":"u-1","groups":["system:masters"]},"impersonatedUser":{"username":"user-2","groups":["devs","system:authenticated"]},' +
      '"sourceIPs":["::1"],' +
      '"objectRef":{"resource":"packagerevisions","namespace":"team-a","apiGroup":"pkg.pkgserver.dev","apiVersion":"v1alpha1"},' +
      `"responseStatus":{"metadata":{},"status":"Failure","message":${JSON.stringify(message)},"reason":"Forbidden","details":{"group":"pkg.pkgserver.dev","kind":"packagerevisions"},"code":403},` +
      '"requestReceivedTimestamp":"2026-11-26T06:30:00.123000Z","stageTimestamp":"2026-11-26T06:30:00.456000Z",' +
      '"annotations":{"authorization.k8s.io/decision":"forbid","authorization.k8s.io/reason":""}}',
  );
  // a non-resource request: no objectRef, no sourceIPs when none are known, details kept even when empty
  const nonResource = auditEvent(
    'ResponseComplete',
    { auditID: 'a2', requestURI: '/metrics', verb: 'get', user: { name: 'system:anonymous', groups: [] }, sourceIPs: [], requestReceived: RECEIVED },
    { code: 403, status: { status: 'Failure', reason: 'Forbidden', message: 'forbidden: User "system:anonymous" cannot get path "/metrics"', details: {} } },
    DONE,
  );
  t.deepEqual(Object.keys(nonResource), ['kind', 'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'responseStatus', 'requestReceivedTimestamp', 'stageTimestamp']);
  t.deepEqual(nonResource.user, { username: 'system:anonymous' });
  t.deepEqual(nonResource.responseStatus, { metadata: {}, status: 'Failure', message: 'forbidden: User "system:anonymous" cannot get path "/metrics"', reason: 'Forbidden', details: {}, code: 403 });
});

test('user agent truncation, MicroTime, audit IDs, source IPs', (t) => {
  const ua = `${'é'.repeat(600)}`; // 1200 bytes: cut inside a character, as Go cuts bytes
  t.is(auditEvent('Panic', { ...getRequest, userAgent: ua }).userAgent, `${'é'.repeat(512)}...TRUNCATED`);
  t.is(auditEvent('Panic', { ...getRequest, userAgent: `${'é'.repeat(511)}a` }).userAgent, `${'é'.repeat(511)}a`);
  t.is(auditEvent('Panic', { ...getRequest, userAgent: `a${'é'.repeat(512)}` }).userAgent, `a${'é'.repeat(511)}\ufffd...TRUNCATED`);
  t.is(microTime(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6))), '2026-01-02T03:04:05.006000Z');
  t.regex(newAuditID(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.not(newAuditID(), newAuditID());
  t.is(auditIDFrom('from-the-aggregator'), 'from-the-aggregator');
  t.is(auditIDFrom(['first', 'second']), 'first');
  t.regex(auditIDFrom(''), /^[0-9a-f-]{36}$/);
  t.regex(auditIDFrom(undefined), /^[0-9a-f-]{36}$/);
  t.deepEqual(sourceIPs(undefined, undefined, '::ffff:127.0.0.1'), ['127.0.0.1']);
  t.deepEqual(sourceIPs(' 1.2.3.4, bogus ,2001:DB8:0:0:0:0:0:1', '5.6.7.8', '::1'), ['1.2.3.4', '2001:db8::1', '5.6.7.8', '::1']);
  t.deepEqual(sourceIPs('1.2.3.4', '1.2.3.4', '1.2.3.4'), ['1.2.3.4'], 'X-Real-Ip already listed, remote address is the last one');
  t.deepEqual(sourceIPs('1.2.3.4,9.9.9.9', undefined, '1.2.3.4'), ['1.2.3.4', '9.9.9.9', '1.2.3.4']);
  t.deepEqual(sourceIPs('fe80::1%eth0', 'nope', undefined), []);
});

/** an event of about 330 bytes, told apart by its audit ID */
const event = (i: number, uri = '/apis/pkg.pkgserver.dev/v1alpha1/namespaces/team-a/packagerevisions') =>
  auditEvent('ResponseComplete', { ...getRequest, auditID: `id-${String(i).padStart(4, '0')}`, requestURI: uri }, { code: 200 });

const BACKUP = /^audit-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3})\.log$/;

/** The files of the log in order (backups by name, then the current file), and the audit IDs in each. */
async function readLog(dir: string): Promise<{ name: string; size: number; ids: string[] }[]> {
  const names = (await readdir(dir)).filter((n) => BACKUP.test(n)).sort();
  names.push('audit.log');
  return Promise.all(
    names.map(async (name) => {
      const text = await readFile(path.join(dir, name), 'utf8');
      if (text !== '' && !text.endsWith('\n')) throw new Error(`${name} ends inside a line`);
      const ids = text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { auditID: string }).auditID);
      return { name, size: Buffer.byteLength(text), ids };
    }),
  );
}

const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => `id-${String(from + k).padStart(4, '0')}`);

test('rotation keeps every line whole, names backups as lumberjack, prunes to maxBackups', async (t) => {
  const dir = await tmpDir();
  const line = Buffer.byteLength(`${JSON.stringify(event(0))}\n`);
  const file = path.join(dir, 'audit.log');
  const start = Date.now();
  const log = new AuditLog({ path: file, maxSizeBytes: 3 * line + 10, maxBackups: 3, log: capture().log });
  for (let i = 0; i < 20; i++) log.write(event(i));
  await log.close();
  const end = Date.now();
  const files = await readLog(dir);
  // 3 lines a file: 6 rotations; the three newest backups and the current file are left
  t.deepEqual(files.map((f) => f.ids), [ids(9, 12), ids(12, 15), ids(15, 18), ids(18, 20)]);
  for (const f of files) t.true(f.size <= 3 * line + 10, f.name);
  // backups carry the UTC time of their rotation, in order, each name unique
  const times = files.slice(0, 3).map((f) => Date.parse(`${BACKUP.exec(f.name)![1].replace(/T(\d\d)-(\d\d)-(\d\d)/, 'T$1:$2:$3')}Z`));
  t.true(times[0] < times[1] && times[1] < times[2]);
  t.true(times[0] >= start && times[2] <= end + 6, `${times} within ${start}..${end}`);
  t.is((await stat(file)).mode & 0o777, 0o600);
});

test('maxBackups 0 keeps every backup; batches written across ticks stay in order', async (t) => {
  const dir = await tmpDir();
  const line = Buffer.byteLength(`${JSON.stringify(event(0))}\n`);
  const log = new AuditLog({ path: path.join(dir, 'audit.log'), maxSizeBytes: 2 * line, maxBackups: 0, log: capture().log });
  for (let i = 0; i < 25; i++) {
    log.write(event(i));
    if (i % 4 === 0) await new Promise((r) => setImmediate(r));
  }
  await log.close();
  const files = await readLog(dir);
  t.is(files.length, 13);
  t.deepEqual(files.flatMap((f) => f.ids), ids(0, 25));
  for (const f of files.slice(0, -1)) t.is(f.size, 2 * line, f.name);
});

test('a line larger than maxSizeBytes gets a file of its own', async (t) => {
  const dir = await tmpDir();
  const line = Buffer.byteLength(`${JSON.stringify(event(0))}\n`);
  const log = new AuditLog({ path: path.join(dir, 'audit.log'), maxSizeBytes: 2 * line, log: capture().log });
  log.write(event(0));
  log.write(event(1, `/apis/${'x'.repeat(3 * line)}`));
  log.write(event(2));
  log.write(event(3));
  await log.close();
  const files = await readLog(dir);
  t.deepEqual(
    files.map((f) => f.ids),
    [['id-0000'], ['id-0001'], ['id-0002', 'id-0003']],
  );
});

test('a restart appends to the file, rotates it when full, and prunes backups of earlier runs', async (t) => {
  const dir = await tmpDir();
  const file = path.join(dir, 'audit.log');
  const line = Buffer.byteLength(`${JSON.stringify(event(0))}\n`);
  const old = ['audit-2020-01-01T00-00-00.000.log', 'audit-2021-01-01T00-00-00.000.log', 'audit-2022-01-01T00-00-00.000.log'];
  for (const name of old) await writeFile(path.join(dir, name), `${JSON.stringify(event(9000))}\n`);
  // not backups: left alone
  const others = ['audit-2020-13-01T00-00-00.000.log', 'audit-notes.log', 'other-2019-01-01T00-00-00.000.log', 'audit-2019-01-01T00-00-00.000.log.gz'];
  for (const name of others) await writeFile(path.join(dir, name), 'x');

  let log = new AuditLog({ path: file, maxSizeBytes: 2 * line, maxBackups: 2, log: capture().log });
  log.write(event(1));
  await log.close();
  t.deepEqual((await readdir(dir)).sort(), ['audit.log', ...old.slice(1), ...others].sort(), 'pruned on open, as lumberjack');
  for (const name of others) await rm(path.join(dir, name));
  log = new AuditLog({ path: file, maxSizeBytes: 2 * line, maxBackups: 2, log: capture().log });
  log.write(event(2));
  log.write(event(3));
  await log.close();
  const files = await readLog(dir);
  t.deepEqual(files.map((f) => f.ids), [['id-9000'], ['id-0001', 'id-0002'], ['id-0003']]);
  t.is(files[0].name, old[2]);
});

test('a failing disk drops events, logs one error, and the server goes on; writing resumes when the disk does', async (t) => {
  // /dev/full: every write fails with ENOSPC
  const full = capture();
  const log = new AuditLog({ path: '/dev/full', log: full.log });
  log.write(event(1));
  await log.flush();
  t.is(full.lines.length, 1);
  log.write(event(2));
  log.write(event(3));
  await log.close();
  t.is(full.lines.length, 1);
  t.like(full.lines[0], { level: 50, msg: 'audit log: events are dropped until a write succeeds', path: '/dev/full', err: { code: 'ENOSPC' } });

  // a directory that cannot be created (a file is in the way), then can
  const dir = await tmpDir();
  await writeFile(path.join(dir, 'blocker'), 'x');
  const file = path.join(dir, 'blocker', 'audit.log');
  const c = capture();
  const log2 = new AuditLog({ path: file, log: c.log });
  log2.write(event(1));
  await log2.flush();
  log2.write(event(2));
  log2.write({ big: 1n }); // cannot be serialized: dropped too
  await log2.flush();
  t.is(c.lines.length, 1);
  await rm(path.join(dir, 'blocker'));
  await mkdir(path.join(dir, 'blocker'));
  log2.write(event(4));
  await log2.close();
  t.deepEqual(
    (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l).auditID),
    ['id-0004'],
  );
  t.is(c.lines.length, 2);
  t.like(c.lines[0], { level: 50, msg: 'audit log: events are dropped until a write succeeds', err: { code: 'EEXIST' } });
  t.like(c.lines[1], { level: 40, msg: 'audit log: writing again after dropping events', dropped: 3 });
  log2.write(event(5)); // after close: ignored, no throw
});

test('events beyond maxPendingBytes are dropped, not buffered without bound', async (t) => {
  const dir = await tmpDir();
  const line = Buffer.byteLength(`${JSON.stringify(event(0))}\n`);
  const c = capture();
  const log = new AuditLog({ path: path.join(dir, 'audit.log'), maxPendingBytes: 3 * line, log: c.log });
  for (let i = 0; i < 5; i++) log.write(event(i));
  await log.close();
  t.deepEqual((await readLog(dir)).map((f) => f.ids), [ids(0, 3)]);
  t.is(c.lines.length, 2);
  t.like(c.lines[0], { level: 50, err: { message: `more than ${3 * line} bytes of events are waiting for the disk` } });
  t.like(c.lines[1], { level: 40, dropped: 2 });
});

test('"-" writes the lines to standard output', async (t) => {
  const script = `
    import { AuditLog, auditEvent } from ${JSON.stringify(path.resolve('src/apiserver/audit.ts'))};
    const log = new AuditLog({ path: '-' });
    const req = { auditID: 'x', requestURI: '/version', verb: 'get', user: { name: 'u', groups: [] }, sourceIPs: [], requestReceived: new Date(0) };
    for (let i = 0; i < 3; i++) log.write(auditEvent('ResponseComplete', { ...req, auditID: 'x' + i }, { code: 200 }, new Date(1)));
    await log.close();
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import=tsx', '--input-type=module', '-e', script]);
  t.is(
    stdout,
    [0, 1, 2]
      .map(
        (i) =>
          `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x${i}","stage":"ResponseComplete","requestURI":"/version","verb":"get","user":{"username":"u"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"1970-01-01T00:00:00.000000Z","stageTimestamp":"1970-01-01T00:00:00.001000Z"}\n`,
      )
      .join(''),
  );
});
