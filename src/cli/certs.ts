// `pkgserver certs`: the PKI, a kubeconfig and the APIService caBundle for other names.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { flags } from './main.ts';
import { caBundle, ensurePKI, kubeconfigYAML } from './pki.ts';

const USAGE = `Usage: pkgserver certs [flags]

Writes ca.crt/key, serving.crt/key, admin.crt/key, kubeconfig and ca-bundle.txt (base64 CA for
deploy/apiservice.yaml's spec.caBundle). Existing files are kept and re-issued only when needed.

Flags:
  --out DIR          output directory (default ./certs)
  --dns-name NAME    DNS name of the serving certificate, repeatable (localhost is always included),
                     e.g. pkgserver.pkgserver-system.svc
  --ip ADDR          IP address of the serving certificate, repeatable (127.0.0.1 and ::1 always)
  --admin-user NAME  CN of the admin client certificate (default admin)
  --admin-group G    O of the admin client certificate, repeatable (default system:masters)
  --server URL       server URL written into the kubeconfig (default https://127.0.0.1:6443)`;

export async function certs(argv: string[]): Promise<void> {
  const f = flags(
    argv,
    {
      out: { type: 'string' },
      'dns-name': { type: 'string', multiple: true },
      ip: { type: 'string', multiple: true },
      'admin-user': { type: 'string' },
      'admin-group': { type: 'string', multiple: true },
      server: { type: 'string' },
    },
    USAGE,
  );
  const out = path.resolve(f.out ?? 'certs');
  await mkdir(out, { recursive: true });
  const { files } = await ensurePKI(out, {
    dnsNames: ['localhost', ...(f['dns-name'] ?? [])],
    ipAddresses: ['127.0.0.1', '::1', ...(f.ip ?? [])],
    adminUser: f['admin-user'],
    adminGroups: f['admin-group'],
  });
  await writeFile(
    path.join(out, 'kubeconfig'),
    kubeconfigYAML({ server: f.server ?? 'https://127.0.0.1:6443', caCert: files.caCert, clientCert: files.adminCert, clientKey: files.adminKey }),
    { mode: 0o600 },
  );
  await writeFile(path.join(out, 'ca-bundle.txt'), `${caBundle(files.caCert)}\n`);
  console.log(`wrote certificates, kubeconfig and ca-bundle.txt to ${out}`);
}
