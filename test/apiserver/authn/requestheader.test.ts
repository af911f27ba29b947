import test from 'ava';
import { DEFAULT_REQUEST_HEADER, RequestHeaderAuthenticator, unescapeExtraKey, type RequestHeaderConfig } from '../../../src/apiserver/authn/requestheader.ts';
import type { Dynamic } from '../../../src/apiserver/authn/types.ts';
import { makeCA, makeLeaf, startAuthServer, type AuthServer, type Issued } from '../../helpers/certs.ts';

let clientCA: Issued;
let proxyCA: Issued;
let proxy: Issued;
let server: AuthServer;
let config: RequestHeaderConfig | undefined;
const dynamic: Dynamic<RequestHeaderConfig | undefined> = { current: () => config, onChange: () => () => {} };

const baseConfig = (): RequestHeaderConfig => ({ clientCA: proxyCA.cert, allowedNames: ['front-proxy-client'], ...DEFAULT_REQUEST_HEADER });

test.before(async () => {
  clientCA = makeCA('client-ca');
  proxyCA = makeCA('front-proxy-ca');
  proxy = makeLeaf(proxyCA, { cn: 'front-proxy-client' });
  const authn = new RequestHeaderAuthenticator(dynamic);
  server = await startAuthServer((req) => authn.authenticate(req), [clientCA.cert, proxyCA.cert]);
});

test.beforeEach(() => {
  config = baseConfig();
});

test.after.always(async () => {
  await server?.close();
});

// Headers exactly as kube-apiserver's proxy sends them: one X-Remote-Group per group, escaped extra keys.
const proxied = {
  'X-Remote-User': 'alice',
  'X-Remote-Group': ['devs', 'ops', 'b, c'],
  'X-Remote-Extra-Scopes': ['view', 'edit'],
  'X-Remote-Extra-Acme.com%2fProject': 'p1',
  'X-Remote-Extra-Reason': '',
};

test.serial('the front proxy certificate: the X-Remote-* headers are the user', async (t) => {
  const { result } = await server.call({ ...proxy, headers: proxied });
  t.deepEqual(result, {
    user: { name: 'alice', groups: ['devs', 'ops', 'b, c'], extra: { scopes: ['view', 'edit'], 'acme.com/project': ['p1'], reason: [''] } },
    method: 'requestheader',
    consumedHeaders: ['x-remote-user', 'x-remote-group', 'x-remote-extra-scopes', 'x-remote-extra-acme.com%2fproject', 'x-remote-extra-reason'],
  });
});

test.serial('a client certificate of the normal client CA sending X-Remote-User: no answer', async (t) => {
  const user2 = makeLeaf(clientCA, { cn: 'user-2', o: ['devs'] });
  t.deepEqual(await server.call({ ...user2, headers: proxied }), {});
});

test.serial('a certificate of the requestheader CA with a CN not allowed: an error', async (t) => {
  const other = makeLeaf(proxyCA, { cn: 'someone-else' });
  t.deepEqual((await server.call({ ...other, headers: proxied })).error, {
    name: 'AuthenticationError',
    message: 'x509: subject with cn=someone-else is not in the allowed list',
  });
  config = { ...baseConfig(), allowedNames: [] };
  t.is((await server.call({ ...other, headers: proxied })).result.user.name, 'alice', 'an empty list allows any CN');
});

test.serial('an expired front proxy certificate is an error, not a silent no', async (t) => {
  const expired = makeLeaf(proxyCA, { cn: 'front-proxy-client', notBefore: new Date(Date.now() - 2 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
  const { error } = await server.call({ ...expired, headers: proxied });
  t.is(error?.name, 'CertificateVerifyError');
  t.regex(error!.message, /has expired or is not yet valid/);
});

test.serial('no username header, no certificate, or no requestheader configuration: no answer', async (t) => {
  t.deepEqual(await server.call({ ...proxy, headers: { 'X-Remote-Group': 'devs' } }), {});
  t.deepEqual(await server.call({ ...proxy, headers: { 'X-Remote-User': '' } }), {});
  t.deepEqual(await server.call({ headers: proxied }), {});
  config = undefined;
  t.deepEqual(await server.call({ ...proxy, headers: proxied }), {});
});

test.serial('configured header names: the first non-empty username and uid header wins, names are case-insensitive', async (t) => {
  config = {
    ...baseConfig(),
    usernameHeaders: ['X-Remote-User', 'X-Forwarded-User'],
    uidHeaders: ['X-Remote-Uid'],
    groupHeaders: ['X-Remote-Group', 'X-Team'],
    extraHeaderPrefixes: ['X-Remote-Extra-', 'x-info-'],
  };
  const { result } = await server.call({
    ...proxy,
    headers: {
      'X-Remote-User': '',
      'x-forwarded-user': 'bob',
      'X-Remote-Uid': ['uid-1', 'uid-2'],
      'X-Remote-Group': ['', 'g1'],
      'X-TEAM': 'g2',
      'X-Info-Key': 'v',
      'X-Remote-Extra-Bad%zz': 'w',
    },
  });
  t.deepEqual(result.user, { name: 'bob', uid: 'uid-1', groups: ['g1', 'g2'], extra: { 'bad%zz': ['w'], key: ['v'] } });
  t.deepEqual(new Set(result.consumedHeaders), new Set(['x-remote-user', 'x-forwarded-user', 'x-remote-uid', 'x-remote-group', 'x-team', 'x-remote-extra-bad%zz', 'x-info-key']));
});

test.serial('the requestheader CA is followed when it changes', async (t) => {
  const newProxyCA = makeCA('front-proxy-ca-2');
  const newProxy = makeLeaf(newProxyCA, { cn: 'front-proxy-client' });
  config = { ...baseConfig(), clientCA: newProxyCA.cert };
  t.deepEqual(await server.call({ ...proxy, headers: proxied }), {}, 'the old front proxy is no longer believed');
  t.is((await server.call({ ...newProxy, headers: proxied })).result.user.name, 'alice');
});

test('unescapeExtraKey decodes as Go url.PathUnescape', (t) => {
  t.is(unescapeExtraKey('acme.com%2fproject'), 'acme.com/project');
  t.is(unescapeExtraKey('a%20b+c'), 'a b+c');
  t.is(unescapeExtraKey('%e2%9c%93'), '✓');
  t.is(unescapeExtraKey('bad%2'), 'bad%2');
  t.is(unescapeExtraKey('bad%zz%2f'), 'bad%zz%2f');
  t.is(unescapeExtraKey('plain'), 'plain');
});
