// `pkgserver serve`: the standalone server with its embedded defaults.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { DEFAULT_HEAP_GROWING_PERCENT, setHeapGrowingPercent } from '../util/heap.ts';
import { flags } from './main.ts';
import { instrumentStore } from '../storage/store/instrumented.ts';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { LeaderElectionOptions } from '../app.ts';
import { LEASE_DEFAULTS } from '../controllers/runtime/leaderelection.ts';
import { ensurePKI, kubeconfigYAML } from './pki.ts';
import { buildApp, clusterModules } from '../app.ts';
import { buildSecurity } from '../security.ts';
import { SqliteStore } from '../storage/store/sqlite.ts';
import type { Store } from '../storage/store/interface.ts';

const USAGE = `Usage: pkgserver serve [flags]

Flags:
  --data-dir DIR            data directory: store, generated certificates, policy, kubeconfig (default ./data)
  --bind-address ADDR       address to listen on (default 127.0.0.1)
  --secure-port PORT        HTTPS port (default 6443; 0 picks a free port)
  --dns-name NAME           extra DNS name for the generated serving certificate, repeatable
  --tls-cert-file FILE      serving certificate (PEM); with --tls-private-key-file, instead of the generated one
  --tls-private-key-file F  serving key (PEM). Both are re-read when they change
  --log-level LEVEL         trace, debug, info, warn, error (default info)
  --watch-cache-size N      events kept per resource for watches to resume from (default 10000)
  --heap-growing-percent N  how far V8's heap grows past what survived the last full collection before
                            the next one (default 40: less memory for a little more GC; 0: V8's own
                            factor, up to 300 %)
  --history-size N          events kept in the store (default 100000)
  --storage-backend NAME    sqlite (default: <data-dir>/store.db) or etcd3 (the store in etcd; several replicas: docs/ha.md)
  --etcd-servers URLS       etcd client URLs, comma-separated or repeated (etcd3 only), all http:// or all https://
  --etcd-prefix PREFIX      every key is stored under this prefix, so installations can share an etcd
                            (default /pkgserver/)
  --etcd-cafile FILE        CA of the etcd servers' certificates (https:// endpoints; default: system roots)
  --etcd-certfile FILE      client certificate for etcd, with --etcd-keyfile
  --etcd-keyfile FILE       its private key
  --bookmark-interval SECS  interval of watch BOOKMARK events (default 60)
  --git-timeout SECS        bound on every git network operation (default 30)
  --local-repository-root DIR  Repositories may name local bare repositories under DIR (repeatable;
                            none by default: only remote https:// repositories); never the data directory
  --max-object-size BYTES   bound on a stored object's encoded size, after decoding and patching
                            (default 1572864, etcd's 1.5 MiB)
  --controllers BOOL        run the controllers (repository sync, packagevariant, approval, upgrades,
                            garbage collector) (default true)
  --leader-elect BOOL       run the controllers only while this replica holds a coordination.k8s.io/v1
                            Lease (several replicas; default true with --storage-backend=etcd3, else false)
  --leader-elect-lease-duration DUR  how long others wait before taking an unrenewed Lease (default 15s)
  --leader-elect-renew-deadline DUR  how long the leader tries to renew before it stops leading (default 10s)
  --leader-elect-retry-period DUR    interval of acquire and renew attempts (default 2s)
  --leader-elect-resource-name NAME  the Lease (default pkgserver-controllers)
  --leader-elect-resource-namespace NS  its namespace (default kube-system; in a cluster, kube-apiserver's
                            Lease, standalone the server's own)
  --event-ttl DUR           how long Events are kept after their last occurrence (default 1h; standalone)
  --max-requests-inflight N           read requests served at once; more get 429 (default 400, 0: no limit)
  --max-mutating-requests-inflight N  writes served at once; more get 429 (default 200, 0: no limit)

Authentication (in kube's order: front proxy, client certificates, bearer tokens):
  --client-ca-file FILE     CA of client certificates (CN = user, O = groups); standalone default: the generated CA
  --requestheader-client-ca-file FILE    CA of the front proxy's client certificate (kube-apiserver's aggregator)
  --requestheader-allowed-names LIST     CNs the front proxy's certificate may have (default: any)
  --requestheader-username-headers LIST  (default X-Remote-User)
  --requestheader-group-headers LIST     (default X-Remote-Group)
  --requestheader-extra-headers-prefix LIST (default X-Remote-Extra-)
  --requestheader-uid-headers LIST       (default none; X-Remote-Uid is what kube sends)
  --token-auth-file FILE    static bearer tokens, kube's CSV: token,user,uid,"group1,group2"
  --oidc-issuer-url URL     JWTs of this issuer are verified (with --oidc-client-id as the audience)
  --oidc-client-id ID       the audience a JWT must carry
  --oidc-jwks-file FILE     the issuer's keys (JWKS); default: fetched from the issuer's discovery document
  --oidc-ca-file FILE       CA of the issuer's HTTPS endpoint
  --oidc-username-claim C   (default sub)        --oidc-username-prefix P  (default "<issuer>#", "-": none)
  --oidc-groups-claim C     (default none)       --oidc-groups-prefix P
  --oidc-signing-algs LIST  (default RS256)      --oidc-required-claim K=V (repeatable)

In a cluster (a kubeconfig, or the pod's service account; the client CA and front-proxy settings then
come from kube-system/extension-apiserver-authentication, followed as it changes; flags override):
  --kubeconfig FILE         the cluster (Secrets for git credentials); default: the in-cluster service account
  --authentication-kubeconfig FILE  where TokenReviews go (default: --kubeconfig)
  --authorization-kubeconfig FILE   where SubjectAccessReviews go (default: --kubeconfig)
  --authentication-token-webhook-cache-ttl DUR       (default 10s)
  --authorization-webhook-cache-authorized-ttl DUR   (default 10s)
  --authorization-webhook-cache-unauthorized-ttl DUR (default 10s)
  --standalone              ignore the in-cluster service account

Authorization and audit:
  --authorization-policy-file FILE  RBAC documents (ClusterRole, Role, bindings); standalone only;
                            default <data-dir>/policy.yaml, written on first start; re-read when it changes
  --authorization-always-allow-paths LIST  (default /healthz,/readyz,/livez)
  --audit-log-path FILE     audit log (JSON lines, audit.k8s.io/v1 Events at Metadata level); "-": stdout
  --audit-log-maxsize MB    rotate at this size (default 100)
  --audit-log-maxbackup N   rotated files kept (default 0: all)
  --credentials-file FILE   git credentials for Repository spec.git.credentials: YAML
                            {"<namespace>/<name>" or "<name>": {username, password} or {token}};
                            in a cluster the default is Secrets in the Repository's namespace`;

export async function serve(argv: string[]): Promise<void> {
  const s = { type: 'string' } as const;
  const m = { type: 'string', multiple: true } as const;
  const f = flags(
    argv,
    {
      'data-dir': s,
      'bind-address': s,
      'secure-port': s,
      'dns-name': m,
      'tls-cert-file': s,
      'tls-private-key-file': s,
      'client-ca-file': s,
      'log-level': s,
      'watch-cache-size': s,
      'heap-growing-percent': s,
      'history-size': s,
      'storage-backend': s,
      'etcd-servers': m,
      'etcd-prefix': s,
      'etcd-cafile': s,
      'etcd-certfile': s,
      'etcd-keyfile': s,
      'bookmark-interval': s,
      'credentials-file': s,
      'git-timeout': s,
      controllers: s,
      'event-ttl': s,
      'leader-elect': s,
      'leader-elect-lease-duration': s,
      'leader-elect-renew-deadline': s,
      'leader-elect-retry-period': s,
      'leader-elect-resource-name': s,
      'leader-elect-resource-namespace': s,
      'local-repository-root': m,
      'max-object-size': s,
      'max-requests-inflight': s,
      'max-mutating-requests-inflight': s,
      'requestheader-client-ca-file': s,
      'requestheader-allowed-names': m,
      'requestheader-username-headers': m,
      'requestheader-group-headers': m,
      'requestheader-extra-headers-prefix': m,
      'requestheader-uid-headers': m,
      'token-auth-file': s,
      'oidc-issuer-url': s,
      'oidc-client-id': s,
      'oidc-jwks-file': s,
      'oidc-ca-file': s,
      'oidc-username-claim': s,
      'oidc-username-prefix': s,
      'oidc-groups-claim': s,
      'oidc-groups-prefix': s,
      'oidc-signing-algs': m,
      'oidc-required-claim': m,
      kubeconfig: s,
      'authentication-kubeconfig': s,
      'authorization-kubeconfig': s,
      'authentication-token-webhook-cache-ttl': s,
      'authorization-webhook-cache-authorized-ttl': s,
      'authorization-webhook-cache-unauthorized-ttl': s,
      standalone: { type: 'boolean' },
      'authorization-policy-file': s,
      'authorization-always-allow-paths': m,
      'audit-log-path': s,
      'audit-log-maxsize': s,
      'audit-log-maxbackup': s,
      'file-check-interval': s,
    },
    USAGE,
  );
  const logger = pino({ level: f['log-level'] ?? 'info', base: { component: 'pkgserver' } });
  const heapGrowingPercent = num(f['heap-growing-percent'], DEFAULT_HEAP_GROWING_PERCENT, 'heap-growing-percent');
  if (heapGrowingPercent > 1000) fail(`--heap-growing-percent must be at most 1000, got ${heapGrowingPercent}`);
  const dataDir = path.resolve(f['data-dir'] ?? 'data');
  const bind = f['bind-address'] ?? '127.0.0.1';
  const port = num(f['secure-port'], 6443, 'secure-port');
  await mkdir(dataDir, { recursive: true });

  const pkiDir = path.join(dataDir, 'pki');
  const { files } = await ensurePKI(pkiDir, {
    dnsNames: ['localhost', ...(f['dns-name'] ?? [])],
    ipAddresses: ['127.0.0.1', '::1', ...(bind !== '0.0.0.0' && bind !== '::' && bind !== '127.0.0.1' ? [bind] : [])],
  });
  const list = (v: string[] | undefined) => (v ?? []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
  const oidcIssuer = f['oidc-issuer-url'];
  if (oidcIssuer && !f['oidc-client-id']) fail('--oidc-client-id is required with --oidc-issuer-url');

  let security;
  try {
    security = await buildSecurity({
      dataDir,
      tlsCertFile: path.resolve(f['tls-cert-file'] ?? path.join(pkiDir, 'serving.crt')),
      tlsKeyFile: path.resolve(f['tls-private-key-file'] ?? path.join(pkiDir, 'serving.key')),
      clientCAFile: f['client-ca-file'] && path.resolve(f['client-ca-file']),
      generatedCAFile: path.join(pkiDir, 'ca.crt'),
      requestHeader: {
        clientCAFile: f['requestheader-client-ca-file'] && path.resolve(f['requestheader-client-ca-file']),
        allowedNames: list(f['requestheader-allowed-names']),
        usernameHeaders: list(f['requestheader-username-headers']),
        groupHeaders: list(f['requestheader-group-headers']),
        extraHeaderPrefixes: list(f['requestheader-extra-headers-prefix']),
        uidHeaders: list(f['requestheader-uid-headers']),
      },
      tokenAuthFile: f['token-auth-file'] && path.resolve(f['token-auth-file']),
      oidc: oidcIssuer
        ? {
            issuerURL: oidcIssuer,
            clientID: f['oidc-client-id']!,
            jwksFile: f['oidc-jwks-file'] && path.resolve(f['oidc-jwks-file']),
            caFile: f['oidc-ca-file'] && path.resolve(f['oidc-ca-file']),
            usernameClaim: f['oidc-username-claim'],
            usernamePrefix: f['oidc-username-prefix'],
            groupsClaim: f['oidc-groups-claim'],
            groupsPrefix: f['oidc-groups-prefix'],
            signingAlgs: f['oidc-signing-algs'] && list(f['oidc-signing-algs']),
            requiredClaims: Object.fromEntries(list(f['oidc-required-claim']).map((kv) => [kv.split('=')[0], kv.split('=').slice(1).join('=')])),
          }
        : undefined,
      kubeconfig: f.kubeconfig && path.resolve(f.kubeconfig),
      authenticationKubeconfig: f['authentication-kubeconfig'] && path.resolve(f['authentication-kubeconfig']),
      authorizationKubeconfig: f['authorization-kubeconfig'] && path.resolve(f['authorization-kubeconfig']),
      standalone: f.standalone ?? false,
      tokenWebhookCacheTTLMs: duration(f['authentication-token-webhook-cache-ttl'], 10_000, 'authentication-token-webhook-cache-ttl'),
      authorizedCacheTTLMs: duration(f['authorization-webhook-cache-authorized-ttl'], 10_000, 'authorization-webhook-cache-authorized-ttl'),
      unauthorizedCacheTTLMs: duration(f['authorization-webhook-cache-unauthorized-ttl'], 10_000, 'authorization-webhook-cache-unauthorized-ttl'),
      alwaysAllowPaths: f['authorization-always-allow-paths'] ? list(f['authorization-always-allow-paths']) : ['/healthz', '/readyz', '/livez'],
      policyFile: f['authorization-policy-file'] && path.resolve(f['authorization-policy-file']),
      credentialsFile: f['credentials-file'],
      audit: f['audit-log-path'] ? { path: f['audit-log-path'] === '-' ? '-' : path.resolve(f['audit-log-path']), maxSizeMB: num(f['audit-log-maxsize'], 100, 'audit-log-maxsize'), maxBackups: num(f['audit-log-maxbackup'], 0, 'audit-log-maxbackup') } : undefined,
      fileCheckIntervalMs: f['file-check-interval'] ? duration(f['file-check-interval'], 2000, 'file-check-interval') : undefined,
      log: logger,
    });
  } catch (e) {
    fail((e as Error).message);
  }

  const store = instrumentStore(await openStore(f, dataDir, logger, list), (f['storage-backend'] as string | undefined) ?? 'sqlite');
  const app = buildApp({
    bindAddress: bind,
    port,
    tls: security.tls,
    authenticator: security.authenticator,
    authorizer: security.authorizer,
    rules: security.rules,
    virtualResources: security.virtualResources,
    audit: security.audit,
    maxRequestsInflight: num(f['max-requests-inflight'], 400, 'max-requests-inflight'),
    maxMutatingRequestsInflight: num(f['max-mutating-requests-inflight'], 200, 'max-mutating-requests-inflight'),
    store,
    logger,
    dataDir,
    credentials: security.credentials,
    gitTimeoutMs: num(f['git-timeout'], 30, 'git-timeout') * 1000,
    controllers: f.controllers !== 'false',
    eventTTLMs: duration(f['event-ttl'], 3_600_000, 'event-ttl'),
    leaderElection: leaderElection(f),
    localRepositoryRoots: (f['local-repository-root'] ?? []).map((r) => path.resolve(r)),
    maxObjectBytes: num(f['max-object-size'], 1_572_864, 'max-object-size'),
    kubeConfig: security.kubeConfig,
    cluster: security.kubeConfig ? await clusterModules() : undefined,
    watchCacheCapacity: num(f['watch-cache-size'], 10_000, 'watch-cache-size'),
    handler: { bookmarkIntervalMs: num(f['bookmark-interval'], 60, 'bookmark-interval') * 1000 },
  });

  const addr = await app.start();
  // after the start: loading the store into the watch caches grows the heap from nothing, and a
  // small factor would collect it many times on the way (a restart took twice as long)
  setHeapGrowingPercent(heapGrowingPercent);
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address;
  const kubeconfig = path.join(dataDir, 'kubeconfig');
  await writeFile(kubeconfig, kubeconfigYAML({ server: `https://${host}:${addr.port}`, caCert: files.caCert, clientCert: files.adminCert, clientKey: files.adminKey }), { mode: 0o600 });
  logger.info(
    { address: `https://${host}:${addr.port}`, kubeconfig, mode: security.cluster ? 'cluster' : 'standalone', ...(security.policyFile ? { policy: security.policyFile } : {}) },
    `pkgserver is serving; try: kubectl --kubeconfig ${kubeconfig} get packagerevisions -A`,
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await app.stop();
    security.stop();
    await store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/** The store chosen by --storage-backend, its flags checked first. */
async function openStore(
  f: Record<string, string | string[] | boolean | undefined>,
  dataDir: string,
  logger: pino.Logger,
  list: (v: string[] | undefined) => string[],
): Promise<Store> {
  const backend = (f['storage-backend'] as string | undefined) ?? 'sqlite';
  const historyLimit = num(f['history-size'] as string | undefined, 100_000, 'history-size');
  const onListenerError = (err: unknown) => logger.error({ err }, 'store listener failed');
  const etcdFlags = ['etcd-servers', 'etcd-prefix', 'etcd-cafile', 'etcd-certfile', 'etcd-keyfile'].filter((n) => f[n] !== undefined);
  if (backend === 'sqlite') {
    if (etcdFlags.length) fail(`--${etcdFlags[0]} needs --storage-backend=etcd3`);
    return SqliteStore.open(path.join(dataDir, 'store.db'), { historyLimit, onListenerError });
  }
  if (backend !== 'etcd3') fail(`--storage-backend must be sqlite or etcd3, got "${backend}"`);
  const endpoints = list(f['etcd-servers'] as string[] | undefined);
  if (!endpoints.length) fail('--storage-backend=etcd3 needs --etcd-servers');
  for (const e of endpoints) {
    let u: URL | undefined;
    try {
      u = new URL(e);
    } catch {
      // reported below
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) fail(`--etcd-servers: "${e.replace(/^.*@/, '…@')}" is not an http:// or https:// URL`);
    if (u.username || u.password) fail(`--etcd-servers: ${u.protocol}//${u.host}: user information in the URL is not supported`);
  }
  const secure = endpoints.filter((e) => e.startsWith('https:')).length;
  if (secure && secure !== endpoints.length) fail('--etcd-servers: all http:// or all https://, not both');
  const [caFile, certFile, keyFile] = (['etcd-cafile', 'etcd-certfile', 'etcd-keyfile'] as const).map((n) => (f[n] ? path.resolve(f[n] as string) : undefined));
  if (!!certFile !== !!keyFile) fail('--etcd-certfile and --etcd-keyfile go together');
  if ((caFile || certFile) && !secure) fail('--etcd-cafile, --etcd-certfile and --etcd-keyfile need https:// --etcd-servers');
  // hosts only: a URL's user information is not for the logs
  const hosts = endpoints.map((e) => new URL(e).host);
  const prefix = f['etcd-prefix'] as string | undefined;
  if (prefix !== undefined && !prefix.startsWith('/')) fail(`--etcd-prefix must start with "/", got "${prefix}"`);
  try {
    // loaded only here: the etcd client and grpc-js are not for SQLite's starts
    const { EtcdStore, DEFAULT_ETCD_PREFIX } = await import('../storage/store/etcd.ts');
    const store = await EtcdStore.open({
      endpoints,
      prefix,
      tls: { caFile, certFile, keyFile },
      historyLimit,
      onListenerError,
      onWatchError: (err) => logger.warn({ err }, 'etcd watch trouble'),
    });
    logger.info({ etcd: hosts, prefix: prefix ?? DEFAULT_ETCD_PREFIX }, 'store: etcd');
    return store;
  } catch (e) {
    fail(`etcd (${hosts.join(',')}): ${(e as Error).message}`);
  }
}

function fail(message: string): never {
  console.error(`pkgserver: ${message}`);
  process.exit(2);
}

/** --leader-elect and its settings (kube's flags and defaults); undefined when off. */
function leaderElection(f: Record<string, string | string[] | boolean | undefined>): LeaderElectionOptions | undefined {
  const on = f['leader-elect'] as string | undefined;
  if (on !== undefined && on !== 'true' && on !== 'false') fail(`--leader-elect must be true or false, got "${on}"`);
  // on by default where several replicas can share the store (kube's components default to true)
  if (on === 'false' || (on === undefined && f['storage-backend'] !== 'etcd3')) return undefined;
  const ms = (name: string, dflt: number) => duration(f[name] as string | undefined, dflt, name);
  const o = {
    identity: `${os.hostname()}_${randomUUID()}`,
    leaseDurationMs: ms('leader-elect-lease-duration', LEASE_DEFAULTS.leaseDurationMs),
    renewDeadlineMs: ms('leader-elect-renew-deadline', LEASE_DEFAULTS.renewDeadlineMs),
    retryPeriodMs: ms('leader-elect-retry-period', LEASE_DEFAULTS.retryPeriodMs),
    name: (f['leader-elect-resource-name'] as string | undefined) ?? 'pkgserver-controllers',
    namespace: (f['leader-elect-resource-namespace'] as string | undefined) ?? 'kube-system',
  };
  if (!(o.leaseDurationMs > o.renewDeadlineMs)) fail('--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline');
  if (!(o.renewDeadlineMs > 1.2 * o.retryPeriodMs) || o.retryPeriodMs <= 0) fail('--leader-elect-renew-deadline must be greater than 1.2 × --leader-elect-retry-period, which must be greater than 0');
  return o;
}

function num(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) fail(`--${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

/** A Go-style duration ("10s", "1m30s", "500ms", "0") in milliseconds. */
function duration(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (v === '0') return 0;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== v) fail(`--${name} must be a duration such as 10s or 1m, got "${v}"`);
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * units[p[2]], 0));
}
