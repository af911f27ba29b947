import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { OIDCAuthenticator, type OIDCOptions } from '../../../src/apiserver/authn/oidc.ts';
import { generateCA, issueServingCert } from '../../../src/cli/pki.ts';
import { startAuthServer, type AuthServer } from '../../helpers/certs.ts';

const ISSUER = 'https://issuer.example.com';
const CLIENT_ID = 'pkgserver';

interface Key {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function newKey(kid: string, alg = 'RS256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

const now = () => Math.floor(Date.now() / 1000);

function sign(key: Key, claims: JWTPayload, header: { kid?: string } = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: header.kid ?? key.kid }).sign(key.privateKey);
}

/** valid claims for ISSUER and CLIENT_ID, overridable */
const claims = (over: JWTPayload = {}): JWTPayload => ({ iss: ISSUER, aud: CLIENT_ID, sub: 'alice', exp: now() + 600, iat: now(), ...over });

let dir: string;
let key1: Key;
let key2: Key;
let jwksFile: string;
let server: AuthServer;
let authn: OIDCAuthenticator;
/** the authenticator the shared server uses; tests replace it */
let current: OIDCAuthenticator;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pkgserver-oidc-'));
  key1 = await newKey('key-1');
  key2 = await newKey('key-2');
  jwksFile = path.join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify({ keys: [key1.jwk] }));
  authn = new OIDCAuthenticator({ issuerURL: ISSUER, clientID: CLIENT_ID, jwksFile, groupsClaim: 'groups' });
  current = authn;
  server = await startAuthServer((req) => current.authenticate(req));
});

test.after.always(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const bearer = (token: string) => server.call({ headers: { Authorization: `Bearer ${token}` } });

async function withAuthenticator<T>(opts: Partial<OIDCOptions>, fn: () => Promise<T>): Promise<T> {
  current = new OIDCAuthenticator({ issuerURL: ISSUER, clientID: CLIENT_ID, jwksFile, ...opts });
  try {
    return await fn();
  } finally {
    current = authn;
  }
}

test.serial('a valid token: user = issuer#sub, groups from the groups claim', async (t) => {
  t.deepEqual((await bearer(await sign(key1, claims({ groups: ['devs', 'ops'] })))).result, {
    user: { name: `${ISSUER}#alice`, groups: ['devs', 'ops'] },
    method: 'oidc',
    consumedHeaders: ['authorization'],
  });
  t.deepEqual((await bearer(await sign(key1, claims({ groups: 'solo', aud: ['other', CLIENT_ID] })))).result.user, { name: `${ISSUER}#alice`, groups: ['solo'] });
  t.deepEqual((await bearer(await sign(key1, claims()))).result.user, { name: `${ISSUER}#alice`, groups: [] });
});

test.serial('expired, without exp, not yet valid (beyond the one-minute leeway)', async (t) => {
  t.regex((await bearer(await sign(key1, claims({ exp: now() - 10 })))).error!.message, /^oidc: verify token: oidc: token is expired \(Token Expiry: \S+\)$/);
  t.is((await bearer(await sign(key1, claims({ exp: undefined })))).error?.message, 'oidc: verify token: oidc: token is expired (Token Expiry: 0001-01-01T00:00:00Z)');
  t.regex((await bearer(await sign(key1, claims({ nbf: now() + 3600 })))).error!.message, /^oidc: verify token: oidc: current time \S+ before the nbf \(not before\) time: \S+$/);
  t.is((await bearer(await sign(key1, claims({ nbf: now() + 20 })))).result.user.name, `${ISSUER}#alice`, 'within the clock skew');
});

test.serial('another issuer, or not a JWT: no answer (another token authenticator may know it)', async (t) => {
  t.deepEqual(await bearer(await sign(key1, claims({ iss: 'https://other.example.com' }))), {});
  t.deepEqual(await bearer('not-a-jwt'), {});
  t.deepEqual(await bearer('a.b.c'), {});
  t.deepEqual(await server.call(), {});
});

test.serial('wrong audience, bad signature, unknown key, unsupported algorithm', async (t) => {
  t.is((await bearer(await sign(key1, claims({ aud: ['other', 'another'] })))).error?.message, 'oidc: verify token: oidc: expected audience "pkgserver" got ["other" "another"]');
  const forged = await sign(key2, claims(), { kid: 'key-1' });
  t.regex((await bearer(forged)).error!.message, /^oidc: verify token: failed to verify signature: /);
  const valid = await sign(key1, claims());
  const [h, p, s] = valid.split('.');
  const tampered = `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
  t.regex((await bearer(tampered)).error!.message, /failed to verify signature/);
  t.regex((await bearer(await sign(key2, claims()))).error!.message, /failed to verify signature: .*no applicable key found/i);
  const ec = await newKey('key-1', 'ES256');
  t.is((await bearer(await sign(ec, claims()))).error?.message, 'oidc: verify token: oidc: id token signed with unsupported algorithm, expected ["RS256"] got "ES256"');
});

test.serial('claims: missing username claim, bad groups claim, required claims', async (t) => {
  t.is((await bearer(await sign(key1, claims({ sub: undefined })))).error?.message, 'oidc: parse username claims "sub": claim not present');
  t.is((await bearer(await sign(key1, claims({ groups: [1, 2] })))).error?.message, 'oidc: parse groups claim "groups": not a string or an array of strings');
  await withAuthenticator({ requiredClaims: { tenant: 'a', tier: 'gold' } }, async () => {
    t.is((await bearer(await sign(key1, claims({ tenant: 'a', tier: 'gold' })))).result.user.name, `${ISSUER}#alice`);
    t.is((await bearer(await sign(key1, claims({ tenant: 'a' })))).error?.message, 'oidc: required claim tier not present in ID token');
    t.is((await bearer(await sign(key1, claims({ tenant: 'b', tier: 'gold' })))).error?.message, 'oidc: required claim tenant value does not match. Got = b, want = a');
  });
});

test.serial('username and groups prefixes; the email claim and email_verified', async (t) => {
  await withAuthenticator({ usernamePrefix: '-' }, async () => {
    t.is((await bearer(await sign(key1, claims()))).result.user.name, 'alice');
  });
  await withAuthenticator({ usernamePrefix: 'oidc:', groupsClaim: 'roles', groupsPrefix: 'oidc:' }, async () => {
    t.deepEqual((await bearer(await sign(key1, claims({ roles: ['admin', 'dev'] })))).result.user, { name: 'oidc:alice', groups: ['oidc:admin', 'oidc:dev'] });
  });
  await withAuthenticator({ usernameClaim: 'email' }, async () => {
    t.is((await bearer(await sign(key1, claims({ email: 'a@example.com' })))).result.user.name, 'a@example.com', 'no default prefix for email');
    t.is((await bearer(await sign(key1, claims({ email: 'a@example.com', email_verified: true })))).result.user.name, 'a@example.com');
    t.is((await bearer(await sign(key1, claims({ email: 'a@example.com', email_verified: false })))).error?.message, 'oidc: email not verified');
  });
  await withAuthenticator({ usernameClaim: 'email', usernamePrefix: 'mail:' }, async () => {
    t.is((await bearer(await sign(key1, claims({ email: 'a@example.com' })))).result.user.name, 'mail:a@example.com');
  });
});

test.serial('the JWKS file is re-read when it changes', async (t) => {
  const file = path.join(dir, 'rotating.json');
  await writeFile(file, JSON.stringify({ keys: [key1.jwk] }));
  const logs: string[] = [];
  const log = pino({}, { write: (line: string) => logs.push(JSON.parse(line).msg) });
  await withAuthenticator({ jwksFile: file, log }, async () => {
    t.truthy((await bearer(await sign(key2, claims()))).error);
    await writeFile(file, JSON.stringify({ keys: [key1.jwk, key2.jwk] }));
    t.is((await bearer(await sign(key2, claims()))).result.user.name, `${ISSUER}#alice`);
    await writeFile(file, '{not json');
    t.is((await bearer(await sign(key2, claims()))).result.user.name, `${ISSUER}#alice`, 'a broken file keeps the previous keys');
    t.is(logs.length, 1);
    t.regex(logs[0], /^oidc: cannot use .*rotating\.json, keeping the previous keys: /);
  });
});

test('options are checked', (t) => {
  t.throws(() => new OIDCAuthenticator({ issuerURL: 'http://issuer.example.com', clientID: 'x', jwksFile }), { message: /must use the https scheme/ });
  t.throws(() => new OIDCAuthenticator({ issuerURL: ISSUER, clientID: '', jwksFile }), { message: 'oidc: a client ID is required' });
  t.throws(() => new OIDCAuthenticator({ issuerURL: ISSUER, clientID: 'x', jwksFile, signingAlgs: ['HS256'] }), { message: 'oidc: unsupported signing alg: "HS256"' });
});

/** An OIDC provider over HTTPS: discovery document and JWKS, with request counts. */
async function startProvider(keys: () => JWK[], issuerOverride?: string) {
  const ca = generateCA(1);
  const serving = issueServingCert(ca, ['localhost'], ['127.0.0.1'], 1);
  const counts = { discovery: 0, jwks: 0 };
  let url = '';
  const srv = https.createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    res.setHeader('Content-Type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      counts.discovery++;
      res.end(JSON.stringify({ issuer: issuerOverride ?? url, jwks_uri: `${url}/keys`, id_token_signing_alg_values_supported: ['RS256'] }));
    } else if (req.url === '/keys') {
      counts.jwks++;
      res.end(JSON.stringify({ keys: keys() }));
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const caFile = path.join(dir, `provider-ca-${(srv.address() as AddressInfo).port}.crt`);
  await writeFile(caFile, ca.cert);
  return { url, caFile, counts, close: () => new Promise<void>((resolve) => srv.close(() => resolve())) };
}

test.serial('discovery over HTTPS with the CA file; an unknown key id fetches the keys again, rate-limited', async (t) => {
  let published = [key1.jwk];
  const provider = await startProvider(() => published);
  t.teardown(provider.close);
  const iss = provider.url;
  const c = (over: JWTPayload = {}) => claims({ iss, ...over });

  const eager = new OIDCAuthenticator({ issuerURL: iss, clientID: CLIENT_ID, caFile: provider.caFile, keyRefreshCooldownMs: 0 });
  const lazy = new OIDCAuthenticator({ issuerURL: iss, clientID: CLIENT_ID, caFile: provider.caFile, keyRefreshCooldownMs: 3600_000 });
  try {
    current = eager;
    t.deepEqual((await bearer(await sign(key1, c()))).result.user, { name: `${iss}#alice`, groups: [] });
    t.is((await bearer(await sign(key1, c({ sub: 'bob' })))).result.user.name, `${iss}#bob`);
    t.deepEqual(provider.counts, { discovery: 1, jwks: 1 }, 'the keys are kept');

    current = lazy;
    t.is((await bearer(await sign(key1, c()))).result.user.name, `${iss}#alice`);
    t.deepEqual(provider.counts, { discovery: 2, jwks: 2 });

    published = [key1.jwk, key2.jwk]; // the provider rotates in a new key
    current = eager;
    t.is((await bearer(await sign(key2, c()))).result.user.name, `${iss}#alice`);
    t.deepEqual(provider.counts, { discovery: 2, jwks: 3 }, 'the unknown kid made the keys be fetched again');

    current = lazy;
    t.regex((await bearer(await sign(key2, c()))).error!.message, /failed to verify signature/);
    t.deepEqual(provider.counts, { discovery: 2, jwks: 3 }, 'within the cooldown, no fetch');
  } finally {
    current = authn;
  }
});

test.serial('discovery failures: issuer mismatch, untrusted certificate', async (t) => {
  const mismatch = await startProvider(() => [key1.jwk], 'https://someone-else.example.com');
  t.teardown(mismatch.close);
  try {
    current = new OIDCAuthenticator({ issuerURL: mismatch.url, clientID: CLIENT_ID, caFile: mismatch.caFile });
    const token = await sign(key1, claims({ iss: mismatch.url }));
    t.is(
      (await bearer(token)).error?.message,
      `oidc: authenticator not initialized: oidc: issuer did not match the issuer returned by provider, expected "${mismatch.url}" got "https://someone-else.example.com"`,
    );
    t.is(mismatch.counts.discovery, 1);
    t.regex((await bearer(token)).error!.message, /^oidc: authenticator not initialized: oidc: issuer did not match/);
    t.is(mismatch.counts.discovery, 1, 'a failed discovery is not retried at once');

    current = new OIDCAuthenticator({ issuerURL: mismatch.url, clientID: CLIENT_ID }); // the system's roots do not know the test CA
    t.is((await bearer(token)).error?.message, 'oidc: authenticator not initialized: unable to verify the first certificate');
  } finally {
    current = authn;
  }
});
