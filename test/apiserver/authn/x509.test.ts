import test from 'ava';
import { ClientCertAuthenticator, peerChain, verifyClientChain, CertificateVerifyError } from '../../../src/apiserver/authn/x509.ts';
import { AuthenticationError, constant, type Dynamic } from '../../../src/apiserver/authn/types.ts';
import { der, makeCA, makeLeaf, startAuthServer, type AuthServer, type Issued } from '../../helpers/certs.ts';

// Two CAs trusted together at the TLS layer, as pkgserver's server is set up.
let clientCA: Issued;
let otherCA: Issued;
let server: AuthServer;
let currentCA: string | undefined;
const dynamicCA: Dynamic<string | undefined> = { current: () => currentCA, onChange: () => () => {} };

test.before(async () => {
  clientCA = makeCA('client-ca');
  otherCA = makeCA('front-proxy-ca');
  currentCA = clientCA.cert;
  const authn = new ClientCertAuthenticator(dynamicCA);
  server = await startAuthServer(async (req) => ({ auth: await authn.authenticate(req), chain: peerChain(req).map((d) => d.toString('base64')) }), [clientCA.cert, otherCA.cert]);
});

test.after.always(async () => {
  await server?.close();
});

test.serial('a certificate of the client CA: user = CN, groups = every O in order', async (t) => {
  const leaf = makeLeaf(clientCA, { cn: 'user-2', o: ['devs', 'ops', 'system:masters'] });
  const { result } = await server.call(leaf);
  t.deepEqual(result.auth, { user: { name: 'user-2', groups: ['devs', 'ops', 'system:masters'] }, method: 'x509' });
  // Node completes the chain from the TLS layer's CAs and stops at the self-signed one
  t.deepEqual(result.chain, [der(leaf.cert).toString('base64'), der(clientCA.cert).toString('base64')]);
});

test.serial('a certificate of another CA trusted by the TLS layer is refused, as an unknown authority', async (t) => {
  const leaf = makeLeaf(otherCA, { cn: 'front-proxy-client' });
  const { error } = await server.call(leaf);
  t.is(error?.name, 'CertificateVerifyError');
  t.true(error?.unknownAuthority);
  t.regex(error!.message, /^verifying certificate SN=\d+, SKID=[0-9A-F:]+, AKID=[0-9A-F:]+ failed: x509: certificate signed by unknown authority$/);
});

test.serial('no client certificate, or no client CA configured: no answer', async (t) => {
  t.deepEqual((await server.call()).result, { chain: [] });
  const leaf = makeLeaf(clientCA, { cn: 'u' });
  currentCA = undefined;
  try {
    t.is((await server.call(leaf)).result.auth, undefined);
  } finally {
    currentCA = clientCA.cert;
  }
});

test.serial('the CA bundle is read on each request: a rotated CA takes effect at once', async (t) => {
  const newCA = makeCA('client-ca-2');
  const oldLeaf = makeLeaf(clientCA, { cn: 'old' });
  const newLeaf = makeLeaf(newCA, { cn: 'new' });
  // the TLS layer of this server does not know newCA: the authenticator's bundle alone decides
  currentCA = newCA.cert;
  try {
    t.is((await server.call(oldLeaf)).error?.name, 'CertificateVerifyError');
    t.is((await server.call(newLeaf)).result.auth.user.name, 'new');
    currentCA = `${clientCA.cert}\n${newCA.cert}`;
    t.is((await server.call(oldLeaf)).result.auth.user.name, 'old');
    t.is((await server.call(newLeaf)).result.auth.user.name, 'new');
  } finally {
    currentCA = clientCA.cert;
  }
});

test.serial('expired and not yet valid certificates', async (t) => {
  const expired = makeLeaf(clientCA, { cn: 'late', notBefore: new Date(Date.now() - 2 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
  const early = makeLeaf(clientCA, { cn: 'early', notBefore: new Date(Date.now() + 86400_000), notAfter: new Date(Date.now() + 2 * 86400_000) });
  const e1 = (await server.call(expired)).error!;
  t.is(e1.name, 'CertificateVerifyError');
  t.false(e1.unknownAuthority);
  t.regex(e1.message, /x509: certificate has expired or is not yet valid: current time \S+ is after \S+$/);
  t.regex((await server.call(early)).error!.message, /x509: certificate has expired or is not yet valid: current time \S+ is before \S+$/);
});

test.serial('extended key usage: serverAuth only is refused, none or clientAuth is accepted', async (t) => {
  const serverOnly = makeLeaf(clientCA, { cn: 'svc', eku: ['serverAuth'] });
  t.regex((await server.call(serverOnly)).error!.message, /x509: certificate specifies an incompatible key usage$/);
  t.is((await server.call(makeLeaf(clientCA, { cn: 'no-eku', eku: null }))).result.auth.user.name, 'no-eku');
  t.is((await server.call(makeLeaf(clientCA, { cn: 'both', eku: ['serverAuth', 'clientAuth'] }))).result.auth.user.name, 'both');
});

test.serial('an intermediate CA sent by the client completes the chain; without it the chain is unknown', async (t) => {
  const intermediate = makeCA('client-intermediate', { issuer: clientCA });
  const leaf = makeLeaf(intermediate, { cn: 'via-intermediate', o: ['team'] });
  const withChain = await server.call({ cert: leaf.cert + intermediate.cert, key: leaf.key });
  t.deepEqual(withChain.result.auth, { user: { name: 'via-intermediate', groups: ['team'] }, method: 'x509' });
  t.is(withChain.result.chain[1], der(intermediate.cert).toString('base64'));
  const alone = await server.call(leaf);
  t.true(alone.error?.unknownAuthority);
});

test.serial('an intermediate that is not a CA cannot sign', async (t) => {
  const notCA = makeLeaf(clientCA, { cn: 'not-a-ca', eku: null });
  const leaf = makeLeaf(notCA, { cn: 'x' });
  const { error } = await server.call({ cert: leaf.cert + notCA.cert, key: leaf.key });
  t.regex(error!.message, /certificate signed by unknown authority/);
});

test.serial('subjects: several attributes in one RDN, escaped characters, the last CN', async (t) => {
  const leaf = makeLeaf(clientCA, {
    rdns: [[['O', 'a'], ['O', 'b,c']], [['CN', 'first']], [['OU', 'unit']], [['CN', 'x,y+z=w\\ "q" é']]],
  });
  t.deepEqual((await server.call(leaf)).result.auth, { user: { name: 'x,y+z=w\\ "q" é', groups: ['a', 'b,c'] }, method: 'x509' });
});

test.serial('an EC client key; an empty CN gives no answer', async (t) => {
  t.is((await server.call(makeLeaf(clientCA, { cn: 'ec-user', ec: true }))).result.auth.user.name, 'ec-user');
  t.is((await server.call(makeLeaf(clientCA, { o: ['only-groups'] }))).result.auth, undefined);
});

test('verifyClientChain: time, forged signatures, expired CAs', (t) => {
  const leaf = makeLeaf(clientCA, { cn: 'u', o: ['g'] });
  t.deepEqual(verifyClientChain([der(leaf.cert)], clientCA.cert), { cn: 'u', organizations: ['g'] });
  const junk = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n';
  t.deepEqual(verifyClientChain([der(leaf.cert)], junk + clientCA.cert), { cn: 'u', organizations: ['g'] }, 'a block that does not parse is skipped');
  const later = new Date(Date.now() + 3 * 86400_000);
  const err = t.throws(() => verifyClientChain([der(leaf.cert)], clientCA.cert, later), { instanceOf: CertificateVerifyError });
  t.regex(err!.message, /is after/);

  const tampered = Buffer.from(der(leaf.cert));
  tampered[tampered.length - 1] ^= 0xff;
  const forged = t.throws(() => verifyClientChain([tampered], clientCA.cert), { instanceOf: AuthenticationError });
  t.regex(forged!.message, /x509: certificate signed by unknown authority \(possibly because of "x509: signature is invalid" while trying to verify candidate authority certificate "client-ca"\)$/);

  const oldCA = makeCA('old-ca', { notBefore: new Date(Date.now() - 3 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
  const underOld = makeLeaf(oldCA, { cn: 'v' });
  const e = t.throws(() => verifyClientChain([der(underOld.cert)], oldCA.cert), { instanceOf: CertificateVerifyError });
  t.regex(e!.message, /unknown authority \(possibly because of "x509: certificate has expired or is not yet valid: .*" while trying to verify candidate authority certificate "old-ca"\)$/);

  t.throws(() => verifyClientChain([], clientCA.cert), { instanceOf: CertificateVerifyError });
  t.throws(() => verifyClientChain([Buffer.from('junk')], clientCA.cert), { instanceOf: CertificateVerifyError, message: /cannot parse/ });
  t.throws(() => verifyClientChain([der(leaf.cert)], ''), { instanceOf: CertificateVerifyError, message: /unknown authority/ });
});

test('verifyClientChain: a client sending a tangle of cross-signed intermediates is stopped after 100 signature checks', (t) => {
  const base = makeCA('loop');
  const tangle = Array.from({ length: 12 }, () => makeCA('loop', { issuer: base, reuseKey: base }));
  const leaf = makeLeaf(base, { cn: 'x' });
  const err = t.throws(() => verifyClientChain([leaf, ...tangle].map((c) => der(c.cert)), clientCA.cert), { instanceOf: CertificateVerifyError });
  t.regex(err!.message, /failed: x509: signature check attempts limit reached while verifying certificate chain$/);
  t.false(err!.unknownAuthority);
});

test('verifyClientChain: the CA certificate itself, when it is in the bundle', (t) => {
  t.deepEqual(verifyClientChain([der(clientCA.cert)], clientCA.cert), { cn: 'client-ca', organizations: [] });
});

test('ClientCertAuthenticator answers nothing for a request without TLS', async (t) => {
  const authn = new ClientCertAuthenticator(constant(clientCA.cert));
  const { IncomingMessage } = await import('node:http');
  const { Socket } = await import('node:net');
  t.is(await authn.authenticate(new IncomingMessage(new Socket())), undefined);
});
