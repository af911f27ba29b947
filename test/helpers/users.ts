// Users of a running test server: client certificates issued by its generated CA (CN = user,
// O = groups), as raw HTTPS clients and as kubeconfigs for kubectl.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_POLICY, EXAMPLE_ROLES } from '../../src/apiserver/authz/policyfile.ts';
import { issueClientCert, kubeconfigYAML, type CertAndKey } from '../../src/cli/pki.ts';
import { HttpClient } from './http.ts';
import { tempDir, type ServerHandle } from './server.ts';

export interface TestUser {
  name: string;
  http: HttpClient;
  kubeconfig: string;
  cert: CertAndKey;
}

/** The server's generated CA (certificate and key). */
export function serverCA(h: ServerHandle): CertAndKey {
  const pki = path.join(h.dataDir, 'pki');
  return { cert: readFileSync(path.join(pki, 'ca.crt'), 'utf8'), key: readFileSync(path.join(pki, 'ca.key'), 'utf8') };
}

/** A user with a client certificate from the server's client CA. */
export function userOf(h: ServerHandle, name: string, groups: string[] = []): TestUser {
  const ca = serverCA(h);
  const cert = issueClientCert(ca, name, groups);
  const kubeconfig = path.join(tempDir(`user-${name.replace(/[^a-z0-9-]/gi, '')}-`), 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYAML({ server: h.url, caCert: ca.cert, clientCert: cert.cert, clientKey: cert.key }), { mode: 0o600 });
  return { name, http: new HttpClient(h.url, { ca: ca.cert, cert: cert.cert, key: cert.key }), kubeconfig, cert };
}

/**
 * A policy file: the server's defaults, the example roles, and a binding per entry (a RoleBinding
 * in `namespace`, or a ClusterRoleBinding without one) of a ClusterRole to a user or a group.
 */
export function policy(bindings: { user?: string; group?: string; role: string; namespace?: string }[]): string {
  const docs = bindings.map((b, i) => {
    const subject = b.group ? `{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "${b.group}"}` : `{apiGroup: rbac.authorization.k8s.io, kind: User, name: "${b.user}"}`;
    const meta = b.namespace ? `{name: b${i}-${b.role}, namespace: ${b.namespace}}` : `{name: b${i}-${b.role}}`;
    return `apiVersion: rbac.authorization.k8s.io/v1\nkind: ${b.namespace ? 'RoleBinding' : 'ClusterRoleBinding'}\nmetadata: ${meta}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${b.role}}\nsubjects: [${subject}]\n`;
  });
  return [DEFAULT_POLICY, EXAMPLE_ROLES, ...docs].join('\n---\n');
}
