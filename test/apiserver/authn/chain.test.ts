import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { AuthenticatorChain, bearerToken, withAuthenticatedGroup } from '../../../src/apiserver/authn/chain.ts';
import { OIDCAuthenticator } from '../../../src/apiserver/authn/oidc.ts';
import { DEFAULT_REQUEST_HEADER, RequestHeaderAuthenticator } from '../../../src/apiserver/authn/requestheader.ts';
import { TokenFileAuthenticator } from '../../../src/apiserver/authn/tokenfile.ts';
import { constant, type Authenticator } from '../../../src/apiserver/authn/types.ts';
import { ClientCertAuthenticator } from '../../../src/apiserver/authn/x509.ts';
import { makeCA, makeLeaf, startAuthServer, type AuthServer, type Issued } from '../../helpers/certs.ts';

const ISSUER = 'https://issuer.example.com';

let dir: string;
let clientCA: Issued;
let proxyCA: Issued;
let server: AuthServer;
let sign: (claims: Record<string, unknown>) => Promise<string>;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pkgserver-chain-'));
  clientCA = makeCA('client-ca');
  proxyCA = makeCA('front-proxy-ca');
  const tokens = path.join(dir, 'tokens.csv');
  await writeFile(tokens, ['tok-file,tina,uid-t,devs', 'tok-anon,system:anonymous,', 'tok-authd,al,,"system:authenticated,ops"', 'tok-unauth,un,,system:unauthenticated'].join('\n'));
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwks = path.join(dir, 'jwks.json');
  await writeFile(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }] }));
  sign = (claims) => new SignJWT({ iss: ISSUER, aud: 'pkgserver', exp: Math.floor(Date.now() / 1000) + 600, ...claims }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(privateKey);

  const failing: Authenticator = {
    authenticate: async (req) => {
      if (req.headersDistinct['x-test-crash']) throw new TypeError('a bug');
      return undefined;
    },
  };
  const chain = new AuthenticatorChain({
    requestHeader: new RequestHeaderAuthenticator(constant({ clientCA: proxyCA.cert, allowedNames: ['front-proxy-client'], ...DEFAULT_REQUEST_HEADER })),
    clientCert: new ClientCertAuthenticator(constant(clientCA.cert)),
    tokens: [new TokenFileAuthenticator(tokens), new OIDCAuthenticator({ issuerURL: ISSUER, clientID: 'pkgserver', jwksFile: jwks }), failing],
  });
  server = await startAuthServer(async (req) => {
    const token = bearerToken(req);
    const { result, errors } = await chain.authenticateRequest(req);
    return { token, result, errors: errors.map((e) => `${e.name}: ${e.message}`) };
  }, [clientCA.cert, proxyCA.cert]);
});

test.after.always(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const proxyHeaders = { 'X-Remote-User': 'alice', 'X-Remote-Group': ['devs', 'ops'] };

test('the front proxy first: its user, with system:authenticated', async (t) => {
  const proxy = makeLeaf(proxyCA, { cn: 'front-proxy-client' });
  const { result } = await server.call({ ...proxy, headers: { ...proxyHeaders, Authorization: 'Bearer tok-file' } });
  t.deepEqual(result.result.user, { name: 'alice', groups: ['devs', 'ops', 'system:authenticated'] });
  t.is(result.result.method, 'requestheader');
  t.deepEqual(result.errors, []);
});

test('a normal client certificate sending X-Remote-* stays its own user', async (t) => {
  const user2 = makeLeaf(clientCA, { cn: 'user-2', o: ['devs'] });
  const { result } = await server.call({ ...user2, headers: proxyHeaders });
  t.deepEqual(result.result, { user: { name: 'user-2', groups: ['devs', 'system:authenticated'] }, method: 'x509' });
  t.deepEqual(result.errors, []);
});

test('a front proxy certificate whose CN is not allowed: nobody, and both refusals are kept for the log', async (t) => {
  const rogue = makeLeaf(proxyCA, { cn: 'rogue' });
  const { result } = await server.call({ ...rogue, headers: proxyHeaders });
  t.is(result.result, undefined);
  t.is(result.errors.length, 2);
  t.is(result.errors[0], 'AuthenticationError: x509: subject with cn=rogue is not in the allowed list');
  t.regex(result.errors[1], /^CertificateVerifyError: verifying certificate .* failed: x509: certificate signed by unknown authority$/);
});

test('a client certificate wins over a bearer token', async (t) => {
  const user2 = makeLeaf(clientCA, { cn: 'user-2' });
  const { result } = await server.call({ ...user2, headers: { Authorization: 'Bearer tok-file' } });
  t.is(result.result.method, 'x509');
});

test('bearer tokens: token file, then OIDC', async (t) => {
  const byFile = (await server.call({ headers: { Authorization: 'Bearer tok-file' } })).result;
  t.deepEqual(byFile.result, { user: { name: 'tina', uid: 'uid-t', groups: ['devs', 'system:authenticated'] }, method: 'token-file', consumedHeaders: ['authorization'] });
  t.deepEqual(byFile.errors, []);
  const byOIDC = (await server.call({ headers: { Authorization: `Bearer ${await sign({ sub: 'olga' })}` } })).result;
  t.deepEqual(byOIDC.result, { user: { name: `${ISSUER}#olga`, groups: ['system:authenticated'] }, method: 'oidc', consumedHeaders: ['authorization'] });
});

test('an unknown bearer token: "invalid bearer token"; a refused one: its reason', async (t) => {
  t.deepEqual((await server.call({ headers: { Authorization: 'Bearer nope' } })).result, { token: 'nope', errors: ['AuthenticationError: invalid bearer token'] });
  const expired = await sign({ sub: 'olga', exp: Math.floor(Date.now() / 1000) - 60 });
  const { result } = await server.call({ headers: { Authorization: `Bearer ${expired}` } });
  t.is(result.result, undefined);
  t.is(result.errors.length, 1);
  t.regex(result.errors[0], /^AuthenticationError: oidc: verify token: oidc: token is expired/);
});

test('an authenticator that crashes is recorded like a refusal', async (t) => {
  const { result } = await server.call({ headers: { Authorization: 'Bearer nope', 'X-Test-Crash': '1' } });
  t.deepEqual(result.errors, ['TypeError: a bug']);
});

test('no credential at all: nobody, no errors', async (t) => {
  t.deepEqual((await server.call()).result, { errors: [] });
});

test("kube's AuthenticatedGroupAdder: not for system:anonymous, not twice, not with system:unauthenticated", async (t) => {
  const groupsOf = async (token: string) => (await server.call({ headers: { Authorization: `Bearer ${token}` } })).result.result.user.groups;
  t.deepEqual(await groupsOf('tok-anon'), []);
  t.deepEqual(await groupsOf('tok-authd'), ['system:authenticated', 'ops']);
  t.deepEqual(await groupsOf('tok-unauth'), ['system:unauthenticated']);
  t.deepEqual(withAuthenticatedGroup({ name: 'x', groups: ['a'] }), { name: 'x', groups: ['a', 'system:authenticated'] });
});

test("bearerToken reads Authorization as kube's bearertoken authenticator", async (t) => {
  const token = async (authorization?: string) => (await server.call({ headers: authorization === undefined ? {} : { Authorization: authorization } })).result.token;
  t.is(await token('Bearer abc'), 'abc');
  t.is(await token('BEARER abc'), 'abc');
  t.is(await token('  Bearer abc  '), 'abc');
  t.is(await token('Bearer abc def'), 'abc');
  t.is(await token('Bearer  abc'), undefined, 'an extra space before the token: ignored, as kube');
  t.is(await token('Bearer'), undefined);
  t.is(await token('Basic abc'), undefined);
  t.is(await token(), undefined);
});
