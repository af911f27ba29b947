// `pkgserver certs`: the PKI, a kubeconfig and the APIService caBundle for other names.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { flags } from './main.ts';
import { caBundle, ensurePKI, issueClientCert, kubeconfigYAML } from './pki.ts';

const USAGE = `Usage: pkgserver certs [flags]

Writes ca.crt/key, serving.crt/key, admin.crt/key, kubeconfig and ca-bundle.txt (the base64 CA, an
APIService's spec.caBundle). Existing files are kept and re-issued only when needed. For the
in-cluster install: pkgserver certs --out deploy/pki --dns-name pkgserver.pkgserver-system.svc,
then kubectl apply -k deploy/ (the kustomization takes the serving Secret and the caBundle from there).

Flags:
  --out DIR          output directory (default ./certs)
  --dns-name NAME    DNS name of the serving certificate, repeatable (localhost is always included),
                     e.g. pkgserver.pkgserver-system.svc
  --ip ADDR          IP address of the serving certificate, repeatable (127.0.0.1 and ::1 always)
  --admin-user NAME  CN of the admin client certificate (default admin)
  --admin-group G    O of the admin client certificate, repeatable (default system:masters)
  --server URL       server URL written into the kubeconfig (default https://127.0.0.1:6443)

A client certificate for a person, from the CA already in --out (e.g. a running server's
<data-dir>/pki), with nothing else touched:
  pkgserver certs --out data/pki --user alice --group team-a --server https://127.0.0.1:6443
writes alice.crt, alice.key and alice.kubeconfig there (CN alice, O team-a); bind the user or the
group in the policy file (docs/security.md).

  --user NAME        CN of the user's certificate
  --group G          O of the user's certificate, repeatable`;

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
      user: { type: 'string' },
      group: { type: 'string', multiple: true },
    },
    USAGE,
  );
  const out = path.resolve(f.out ?? 'certs');
  if (f.user) return userCert(out, f.user, f.group ?? [], f.server ?? 'https://127.0.0.1:6443');
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

/** A user's client certificate and kubeconfig, signed by the CA in `dir`. */
async function userCert(dir: string, user: string, groups: string[], server: string): Promise<void> {
  if (!/^[A-Za-z0-9][A-Za-z0-9@._:-]*$/.test(user)) throw new Error(`pkgserver certs: --user "${user}" should be a plain user name`);
  let ca;
  try {
    ca = { cert: await readFile(path.join(dir, 'ca.crt'), 'utf8'), key: await readFile(path.join(dir, 'ca.key'), 'utf8') };
  } catch {
    console.error(`pkgserver certs: no ca.crt and ca.key in ${dir} (run pkgserver serve or pkgserver certs there first)`);
    process.exit(2);
  }
  const c = issueClientCert(ca, user, groups);
  const base = path.join(dir, user.replace(/[^A-Za-z0-9@._-]/g, '_'));
  await writeFile(`${base}.crt`, c.cert, { mode: 0o644 });
  await writeFile(`${base}.key`, c.key, { mode: 0o600 });
  await writeFile(`${base}.kubeconfig`, kubeconfigYAML({ server, caCert: ca.cert, clientCert: c.cert, clientKey: c.key, userName: user }), { mode: 0o600 });
  console.log(`wrote ${base}.crt, ${base}.key and ${base}.kubeconfig for user ${user}${groups.length ? ` (groups ${groups.join(', ')})` : ''}`);
}
