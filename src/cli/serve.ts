// `pkgserver serve`: the standalone server with its embedded defaults.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { flags } from './main.ts';
import { ensurePKI, kubeconfigYAML } from './pki.ts';
import { buildApp } from '../app.ts';
import { credentialsFile } from '../storage/git/backend.ts';
import { SqliteStore } from '../storage/store/sqlite.ts';

const USAGE = `Usage: pkgserver serve [flags]

Flags:
  --data-dir DIR            data directory: store, generated certificates, kubeconfig (default ./data)
  --bind-address ADDR       address to listen on (default 127.0.0.1)
  --secure-port PORT        HTTPS port (default 6443; 0 picks a free port)
  --dns-name NAME           extra DNS name for the generated serving certificate, repeatable
  --tls-cert-file FILE      serving certificate (PEM); with --tls-private-key-file, instead of the generated one
  --tls-private-key-file F  serving key (PEM)
  --client-ca-file FILE     CA that signs client certificates (default: the generated CA)
  --log-level LEVEL         trace, debug, info, warn, error (default info)
  --watch-cache-size N      events kept per resource for watches to resume from (default 10000)
  --history-size N          events kept in the store (default 100000)
  --bookmark-interval SECS  interval of watch BOOKMARK events (default 60)
  --credentials-file FILE   git credentials for Repository spec.git.credentials: YAML
                            {"<namespace>/<name>" or "<name>": {username, password} or {token}}
  --git-timeout SECS        bound on every git network operation (default 30)
  --controllers BOOL        run the controllers (repository sync) (default true)`;

export async function serve(argv: string[]): Promise<void> {
  const f = flags(
    argv,
    {
      'data-dir': { type: 'string' },
      'bind-address': { type: 'string' },
      'secure-port': { type: 'string' },
      'dns-name': { type: 'string', multiple: true },
      'tls-cert-file': { type: 'string' },
      'tls-private-key-file': { type: 'string' },
      'client-ca-file': { type: 'string' },
      'log-level': { type: 'string' },
      'watch-cache-size': { type: 'string' },
      'history-size': { type: 'string' },
      'bookmark-interval': { type: 'string' },
      'credentials-file': { type: 'string' },
      'git-timeout': { type: 'string' },
      controllers: { type: 'string' },
    },
    USAGE,
  );
  const logger = pino({ level: f['log-level'] ?? 'info', base: { component: 'pkgserver' } });
  const dataDir = path.resolve(f['data-dir'] ?? 'data');
  const bind = f['bind-address'] ?? '127.0.0.1';
  const port = num(f['secure-port'], 6443, 'secure-port');
  await mkdir(dataDir, { recursive: true });

  const pkiDir = path.join(dataDir, 'pki');
  const { files } = await ensurePKI(pkiDir, {
    dnsNames: ['localhost', ...(f['dns-name'] ?? [])],
    ipAddresses: ['127.0.0.1', '::1', ...(bind !== '0.0.0.0' && bind !== '::' && bind !== '127.0.0.1' ? [bind] : [])],
  });
  const tls = {
    cert: f['tls-cert-file'] ? await readFile(f['tls-cert-file'], 'utf8') : files.servingCert,
    key: f['tls-private-key-file'] ? await readFile(f['tls-private-key-file'], 'utf8') : files.servingKey,
    clientCA: f['client-ca-file'] ? await readFile(f['client-ca-file'], 'utf8') : files.caCert,
  };

  const store = SqliteStore.open(path.join(dataDir, 'store.db'), {
    historyLimit: num(f['history-size'], 100_000, 'history-size'),
    onListenerError: (err) => logger.error({ err }, 'store listener failed'),
  });
  const app = buildApp({
    bindAddress: bind,
    port,
    tls,
    store,
    logger,
    dataDir,
    credentials: credentialsFile(f['credentials-file'] && path.resolve(f['credentials-file'])),
    gitTimeoutMs: num(f['git-timeout'], 30, 'git-timeout') * 1000,
    controllers: f.controllers !== 'false',
    watchCacheCapacity: num(f['watch-cache-size'], 10_000, 'watch-cache-size'),
    handler: { bookmarkIntervalMs: num(f['bookmark-interval'], 60, 'bookmark-interval') * 1000 },
  });

  const addr = await app.start();
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address;
  const kubeconfig = path.join(dataDir, 'kubeconfig');
  await writeFile(kubeconfig, kubeconfigYAML({ server: `https://${host}:${addr.port}`, caCert: files.caCert, clientCert: files.adminCert, clientKey: files.adminKey }), { mode: 0o600 });
  logger.info({ address: `https://${host}:${addr.port}`, kubeconfig }, `pkgserver is serving; try: kubectl --kubeconfig ${kubeconfig} get packagerevisions -A`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await app.stop();
    await store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

function num(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) {
    console.error(`pkgserver: --${name} must be a non-negative integer, got "${v}"`);
    process.exit(2);
  }
  return Number(v);
}
