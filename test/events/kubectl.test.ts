// Events written by the store recorder, as kubectl 1.27, 1.29 and 1.33 show them: the Events
// section of `kubectl describe`, `kubectl events [--for]` and `kubectl get events` with a field
// selector. The server runs in this process (the API server with Repositories and the core
// resources, over HTTPS with client certificates), so the test can call the recorder itself.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { AuthenticatorChain } from '../../src/apiserver/authn/chain.ts';
import { constant } from '../../src/apiserver/authn/types.ts';
import { ClientCertAuthenticator } from '../../src/apiserver/authn/x509.ts';
import { AuthorizerChain } from '../../src/apiserver/authz/union.ts';
import type { Registry } from '../../src/apiserver/registry/generic.ts';
import { repositoryResource } from '../../src/apiserver/registry/repositories.ts';
import { APIServer } from '../../src/apiserver/server.ts';
import { ensurePKI, kubeconfigYAML } from '../../src/cli/pki.ts';
import { coreResources, type CoreResources } from '../../src/core.ts';
import { SqliteStore } from '../../src/storage/store/sqlite.ts';
import { Kubectl } from '../helpers/kubectl.ts';
import { poll } from '../helpers/poll.ts';
import { tempDir } from '../helpers/server.ts';

const SYSTEM = { name: 'system:pkgserver', groups: ['system:authenticated', 'system:masters'] };
const ctx = { user: SYSTEM, dryRun: false };

let server: APIServer;
let store: SqliteStore;
let core: CoreResources;
let repositories: Registry;
let kubeconfig: string;

test.before(async () => {
  const dir = tempDir('pkgserver-events-');
  const { files } = await ensurePKI(path.join(dir, 'pki'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  store = SqliteStore.open(path.join(dir, 'store.db'));
  const logger = pino({ level: 'silent' });
  server = new APIServer({
    bindAddress: '127.0.0.1',
    port: 0,
    tls: constant({ cert: files.servingCert, key: files.servingKey, clientCAs: [files.caCert] }),
    store,
    logger,
    authenticator: new AuthenticatorChain({ clientCert: new ClientCertAuthenticator(constant(files.caCert)) }),
    authorizer: new AuthorizerChain([]), // the admin certificate is in system:masters
  });
  repositories = server.addResource(repositoryResource((ns) => repositories.list(ns, {}).items));
  core = coreResources(server, { user: SYSTEM, log: logger, component: 'pkgserver', host: 'node-1' });
  const addr = await server.start();
  await core.start();
  kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYAML({ server: `https://127.0.0.1:${addr.port}`, caCert: files.caCert, clientCert: files.adminCert, clientKey: files.adminKey }));
});

test.after.always(async () => {
  core?.stop();
  await server?.stop();
  await store?.close();
});

test.serial('recorded Events show in kubectl describe, kubectl events and kubectl get events (1.27, 1.29, 1.33)', async (t) => {
  const repo = await repositories.create('team-a', { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name: 'catalog' }, spec: { git: { url: 'https://git.example.com/catalog.git' } } }, ctx);
  await repositories.create('team-a', { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name: 'other' }, spec: { git: { url: 'https://git.example.com/other.git' } } }, ctx);
  core.recorder.event(repo, 'Warning', 'SyncFailed', 'could not fetch: connection refused');
  core.recorder.event(repo, 'Warning', 'SyncFailed', 'could not fetch: connection refused');
  core.recorder.event(repo, 'Warning', 'SyncFailed', 'could not fetch: connection refused');
  core.recorder.event(repo, 'Normal', 'Synced', 'up to date');
  core.recorder.event(await repositories.get('team-a', 'other'), 'Normal', 'Synced', 'other repository');
  await poll('the recorded events', async () => {
    const items = core.events.list('team-a', {}).items;
    return items.length === 3 && items.some((e) => e.count === 3) ? true : undefined;
  });

  for (const v of ['1.27', '1.29', '1.33'] as const) {
    const k = new Kubectl(v, kubeconfig);
    // the namespace was created with the first object in it
    t.regex(await k.ok(['get', 'ns', 'team-a', '--no-headers']), /^team-a\s+Active\s+\d+s\n$/, v);

    const described = await k.ok(['describe', 'repository', 'catalog', '-n', 'team-a']);
    // the Events section, columns split where kubectl's tab writer put two or more spaces
    const section = described.slice(described.indexOf('Events:')).trimEnd().split('\n');
    t.is(section[0], 'Events:', v);
    const cells = section.slice(1).map((l) => l.trim().split(/\s{2,}/));
    t.deepEqual(cells.slice(0, 2), [['Type', 'Reason', 'Age', 'From', 'Message'], ['----', '------', '----', '----', '-------']], v);
    t.deepEqual(
      cells.slice(2).map((c) => [c[0], c[1], c[3], c[4]]),
      [
        ['Warning', 'SyncFailed', 'pkgserver', 'could not fetch: connection refused'],
        ['Normal', 'Synced', 'pkgserver', 'up to date'],
      ],
      `${v}:\n${section.join('\n')}`,
    );
    t.regex(cells[2][2], /^\d+s \(x3 over \d+s\)$/, v);
    t.regex(cells[3][2], /^\d+s$/, v);

    const forRepo = await k.ok(['events', '-n', 'team-a', '--for', 'repository/catalog']);
    const lines = forRepo.trimEnd().split('\n');
    t.regex(lines[0], /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/, v);
    t.deepEqual(
      lines.slice(1).map((l) => l.split(/\s{2,}/).slice(1)),
      [
        ['Warning', 'SyncFailed', 'Repository/catalog', 'could not fetch: connection refused'],
        ['Normal', 'Synced', 'Repository/catalog', 'up to date'],
      ],
      `${v}:\n${forRepo}`,
    );
    t.regex(lines[1], /^\d+s \(x3 over \d+s\)\s/, v);
    t.regex(await k.ok(['events', '-n', 'team-a']), /Repository\/other\s+other repository/, v);

    const got = await k.ok(['get', 'events', '-n', 'team-a', '--field-selector', 'involvedObject.name=catalog,type=Warning', '-o', 'wide']);
    const [header, row, ...rest] = got.trimEnd().split('\n');
    t.deepEqual(header.split(/\s{2,}/), ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'SUBOBJECT', 'SOURCE', 'MESSAGE', 'FIRST SEEN', 'COUNT', 'NAME'], v);
    t.regex(row, /^\d+s\s+Warning\s+SyncFailed\s+repository\/catalog\s+pkgserver, node-1\s+could not fetch: connection refused\s+\d+s\s+3\s+catalog\.[0-9a-f]{16}$/, `${v}:\n${got}`);
    t.deepEqual(rest, [], v);
  }
});
