import test from 'ava';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadTokenFile, parseTokenFile, TokenFileAuthenticator } from '../../../src/apiserver/authn/tokenfile.ts';
import { startAuthServer } from '../../helpers/certs.ts';
import { poll } from '../../helpers/poll.ts';

let dir: string;
test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pkgserver-tokenfile-'));
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function tokenFile(text: string): Promise<string> {
  const file = path.join(dir, `tokens-${++n}.csv`);
  await writeFile(file, text);
  return file;
}

test('kube CSV: uid, quoted groups, fewer columns, blank lines, CRLF', (t) => {
  const { tokens, warnings } = parseTokenFile(
    ['tok-a,alice,uid-a,"devs,ops"', '', 'tok-b,bob,', '"tok,c","carol ""c""",uid-c,single,ignored', 'tok-d,dave,uid-d,'].join('\r\n') + '\r\n',
    'f.csv',
  );
  t.deepEqual([...tokens], [
    ['tok-a', { name: 'alice', uid: 'uid-a', groups: ['devs', 'ops'] }],
    ['tok-b', { name: 'bob', groups: [] }],
    ['tok,c', { name: 'carol "c"', uid: 'uid-c', groups: ['single'] }],
    ['tok-d', { name: 'dave', uid: 'uid-d', groups: [] }],
  ]);
  t.deepEqual(warnings, []);
});

test('kube CSV: a quoted field may span lines; the error names the line a record starts on', (t) => {
  t.deepEqual([...parseTokenFile('t1,"multi\nline",u1\nt2,x,u2\n', 'f').tokens.values()].map((u) => u.name), ['multi\nline', 'x']);
  t.throws(() => parseTokenFile('t1,"multi\nline",u1\n\nt2,x\n', '/etc/tokens.csv'), {
    message: 'token file "/etc/tokens.csv" line 4: must have at least 3 columns (token, user name, user uid), found 2',
  });
});

test('errors: fewer than 3 columns, comments are not special, bad quotes', (t) => {
  t.throws(() => parseTokenFile('tok,alice\n', 'f.csv'), { message: 'token file "f.csv" line 1: must have at least 3 columns (token, user name, user uid), found 2' });
  t.throws(() => parseTokenFile('# a comment\ntok,a,1\n', 'f.csv'), { message: /line 1: must have at least 3 columns .* found 1$/ });
  t.throws(() => parseTokenFile('tok,a,1\nto"k,b,2\n', 'f.csv'), { message: 'token file "f.csv": parse error on line 2, column 3: bare " in non-quoted-field' });
  t.throws(() => parseTokenFile('"tok"x,a,1\n', 'f.csv'), { message: /parse error on line 1, column 6: extraneous or missing " in quoted-field$/ });
  t.throws(() => parseTokenFile('"tok,a,1\n', 'f.csv'), { message: /extraneous or missing " in quoted-field$/ });
});

test('as kube: an empty token is skipped and a repeated token replaces the earlier one, with warnings that never show a token', (t) => {
  const { tokens, warnings } = parseTokenFile('secret-1,a,1\n,b,2\nsecret-1,c,3\n', 'f.csv');
  t.deepEqual([...tokens], [['secret-1', { name: 'c', uid: '3', groups: [] }]]);
  t.deepEqual(warnings, [
    "empty token has been found in token file 'f.csv', record number '2'",
    "duplicate token has been found in token file 'f.csv', record number '3'",
  ]);
});

test('loadTokenFile: a missing file is an error', (t) => {
  t.throws(() => loadTokenFile(path.join(dir, 'missing.csv')), { code: 'ENOENT' });
});

test('TokenFileAuthenticator: bearer tokens over HTTPS, reloads when the file changes', async (t) => {
  const file = await tokenFile('tok-a,alice,uid-a,"devs,ops"\n');
  const logs: { level: number; msg: string }[] = [];
  const authn = new TokenFileAuthenticator(file, { log: pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line)) }) });
  const server = await startAuthServer((req) => authn.authenticate(req));
  t.teardown(() => server.close());

  t.deepEqual((await server.call({ headers: { Authorization: 'Bearer tok-a' } })).result, {
    user: { name: 'alice', uid: 'uid-a', groups: ['devs', 'ops'] },
    method: 'token-file',
    consumedHeaders: ['authorization'],
  });
  t.is((await server.call({ headers: { Authorization: 'bearer tok-a' } })).result.user.name, 'alice', 'the scheme is case-insensitive');
  t.deepEqual(await server.call({ headers: { Authorization: 'Bearer nope' } }), {});
  t.deepEqual(await server.call({ headers: { Authorization: 'Basic dG9rLWE=' } }), {});
  t.deepEqual(await server.call(), {});

  // replaced the way a mounted Secret is: a new file renamed over the old one
  const next = path.join(dir, 'next.csv');
  await writeFile(next, 'tok-b,bob,uid-b\n');
  await rename(next, file);
  t.is((await server.call({ headers: { Authorization: 'Bearer tok-b' } })).result.user.name, 'bob');
  t.deepEqual(await server.call({ headers: { Authorization: 'Bearer tok-a' } }), {});

  // a broken change keeps the previous tokens, and is said once
  await writeFile(file, 'tok-c,carol\n');
  t.is((await server.call({ headers: { Authorization: 'Bearer tok-b' } })).result.user.name, 'bob');
  t.is((await server.call({ headers: { Authorization: 'Bearer tok-b' } })).result.user.name, 'bob');
  t.deepEqual(logs.map((l) => [l.level, l.msg]), [
    [30, 'token file reloaded'],
    [50, `token file "${file}" line 1: must have at least 3 columns (token, user name, user uid), found 2; keeping the previous tokens`],
  ]);
  await writeFile(file, 'tok-c,carol,uid-c\n');
  await poll('the fixed file to be used', async () => ((await server.call({ headers: { Authorization: 'Bearer tok-c' } })).result?.user.name === 'carol' ? true : undefined));
});

test('TokenFileAuthenticator: a bad file at start is an error', async (t) => {
  const file = await tokenFile('x\n');
  t.throws(() => new TokenFileAuthenticator(file), { message: `token file "${file}" line 1: must have at least 3 columns (token, user name, user uid), found 1` });
});
