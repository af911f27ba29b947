// Assembles the server's security from its configuration, in both ways of running (SPEC 2, 6):
// the TLS material (followed files), the authentication chain, the authorizer, the self reviews,
// the audit log and where git credentials come from.
//
// Standalone: client certificates of the generated (or given) CA, the optional front proxy,
// static tokens and JWTs; a policy file of RBAC documents; credentials from a file.
// In a cluster (a kubeconfig, or the pod's service account): the client CA and the front proxy's
// settings from kube-system/extension-apiserver-authentication (flags override), bearer tokens
// through TokenReview, authorization through SubjectAccessReview, credentials from Secrets.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Authenticator, Dynamic } from './apiserver/authn/types.ts';
import { constant } from './apiserver/authn/types.ts';
import { AuthenticatorChain } from './apiserver/authn/chain.ts';
import { ClientCertAuthenticator } from './apiserver/authn/x509.ts';
import { DEFAULT_REQUEST_HEADER, RequestHeaderAuthenticator, type RequestHeaderConfig } from './apiserver/authn/requestheader.ts';
import { TokenFileAuthenticator } from './apiserver/authn/tokenfile.ts';
import { OIDCAuthenticator, type OIDCOptions } from './apiserver/authn/oidc.ts';
import type { Authorizer, RuleResolver } from './apiserver/authz/types.ts';
import { AuthorizerChain } from './apiserver/authz/union.ts';
import { RBACAuthorizer } from './apiserver/authz/rbac.ts';
import { watchPolicyFile, writeDefaultPolicy } from './apiserver/authz/policyfile.ts';
import { AuditLog } from './apiserver/audit.ts';
import { SELF_REVIEW_RESOURCES, type VirtualResource } from './apiserver/selfreview.ts';
import type { ServingTLS } from './apiserver/server.ts';
import type { ClusterAuthConfig } from './kube/authconfig.ts';
import { clusterConfigured } from './kube/incluster.ts';
import { credentialsFile, type Credentials } from './storage/git/credentials.ts';
import { followFile, followFiles } from './util/filewatch.ts';
import { derived } from './util/dynamic.ts';

export interface SecurityConfig {
  dataDir: string;
  /** serving certificate and key files (generated ones in standalone) */
  tlsCertFile: string;
  tlsKeyFile: string;
  /** --client-ca-file; standalone falls back to the generated CA */
  clientCAFile?: string;
  generatedCAFile: string;
  requestHeader: {
    clientCAFile?: string;
    allowedNames?: string[];
    usernameHeaders?: string[];
    groupHeaders?: string[];
    extraHeaderPrefixes?: string[];
    uidHeaders?: string[];
  };
  tokenAuthFile?: string;
  oidc?: OIDCOptions;
  /** --kubeconfig, --authentication-kubeconfig, --authorization-kubeconfig */
  kubeconfig?: string;
  authenticationKubeconfig?: string;
  authorizationKubeconfig?: string;
  /** ignore the in-cluster service account */
  standalone: boolean;
  tokenWebhookCacheTTLMs: number;
  authorizedCacheTTLMs: number;
  unauthorizedCacheTTLMs: number;
  alwaysAllowPaths: string[];
  policyFile?: string;
  credentialsFile?: string;
  audit?: { path: string; maxSizeMB: number; maxBackups: number };
  /** how often followed files are checked (ms) */
  fileCheckIntervalMs?: number;
  log: Logger;
}

export interface Security {
  /** in a cluster: delegated authentication and authorization */
  cluster: boolean;
  tls: Dynamic<ServingTLS>;
  authenticator: AuthenticatorChain;
  authorizer: Authorizer;
  rules?: RuleResolver;
  virtualResources: VirtualResource[];
  audit?: AuditLog;
  credentials: Credentials;
  /** where the policy file is (standalone) */
  policyFile?: string;
  /** the cluster (Events go there), when there is one */
  kubeConfig?: KubeConfig;
  stop(): void;
}

const clean = (list: string[] | undefined) => (list ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

export async function buildSecurity(cfg: SecurityConfig): Promise<Security> {
  const log = cfg.log;
  const stops: (() => void)[] = [];
  const follow = <T>(file: string, parse: (text: string) => T, what: string) => {
    const f = followFile(file, { parse, intervalMs: cfg.fileCheckIntervalMs, onError: (err) => log.error({ file, err: err.message }, `${what} not reloaded; keeping the last good one`), onReload: () => log.info({ file }, `${what} reloaded`) });
    stops.push(f.stop);
    return f;
  };
  const pem = (text: string) => {
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in the file');
    return text;
  };

  // the cluster, if there is one (its modules, and @kubernetes/client-node, are loaded only then:
  // a third of a standalone start went to importing them)
  let kc: KubeConfig | undefined;
  let authnKC: KubeConfig | undefined;
  let authzKC: KubeConfig | undefined;
  if ((!cfg.standalone && clusterConfigured({ kubeconfig: cfg.kubeconfig })) || cfg.authenticationKubeconfig || cfg.authorizationKubeconfig) {
    const { loadKubeConfig } = await import('./kube/config.ts');
    kc = cfg.standalone ? undefined : loadKubeConfig({ kubeconfig: cfg.kubeconfig });
    authnKC = cfg.authenticationKubeconfig ? loadKubeConfig({ kubeconfig: cfg.authenticationKubeconfig }) : kc;
    authzKC = cfg.authorizationKubeconfig ? loadKubeConfig({ kubeconfig: cfg.authorizationKubeconfig }) : kc;
  }
  const cluster = !!(authnKC || authzKC);
  let clusterAuth: Dynamic<ClusterAuthConfig> = constant({});
  if (authnKC) {
    const { watchAuthenticationConfig } = await import('./kube/authconfig.ts');
    const w = await watchAuthenticationConfig(authnKC, log);
    stops.push(w.stop);
    clusterAuth = w;
  }

  // certificates: the serving pair, the client CA, the front proxy's CA
  const serving = followFiles([cfg.tlsCertFile, cfg.tlsKeyFile], {
    parse: ([cert, key]) => ({ cert: pem(cert), key }),
    intervalMs: cfg.fileCheckIntervalMs,
    onError: (err) => log.error({ err: err.message }, 'serving certificate not reloaded; keeping the last good one'),
    onReload: () => log.info('serving certificate reloaded'),
  });
  stops.push(serving.stop);
  const clientCAFile = cfg.clientCAFile ?? (cluster ? undefined : cfg.generatedCAFile);
  const clientCAFromFile = clientCAFile ? follow(clientCAFile, pem, 'client CA') : undefined;
  const clientCA: Dynamic<string | undefined> = clientCAFromFile ?? derived([clusterAuth], () => clusterAuth.current().clientCA);

  const rh = cfg.requestHeader;
  const rhCAFromFile = rh.clientCAFile ? follow(rh.clientCAFile, pem, 'requestheader client CA') : undefined;
  const headerFlags = {
    ...(rh.allowedNames?.length ? { allowedNames: clean(rh.allowedNames) } : {}),
    ...(rh.usernameHeaders?.length ? { usernameHeaders: clean(rh.usernameHeaders) } : {}),
    ...(rh.groupHeaders?.length ? { groupHeaders: clean(rh.groupHeaders) } : {}),
    ...(rh.extraHeaderPrefixes?.length ? { extraHeaderPrefixes: clean(rh.extraHeaderPrefixes) } : {}),
    ...(rh.uidHeaders?.length ? { uidHeaders: clean(rh.uidHeaders) } : {}),
  };
  const requestHeader: Dynamic<RequestHeaderConfig | undefined> = derived([clusterAuth, ...(rhCAFromFile ? [rhCAFromFile] : [])], () => {
    if (rhCAFromFile) return { ...DEFAULT_REQUEST_HEADER, allowedNames: [], ...headerFlags, clientCA: rhCAFromFile.current() };
    const fromCluster = clusterAuth.current().requestHeader;
    return fromCluster ? { ...fromCluster, ...headerFlags } : undefined;
  });
  const tls = derived([serving, clientCA, requestHeader], (): ServingTLS => ({
    ...serving.current(),
    clientCAs: [clientCA.current(), requestHeader.current()?.clientCA].filter((c): c is string => !!c),
  }));

  // authentication: kube's delegating order
  const tokens: Authenticator[] = [];
  if (cfg.tokenAuthFile) tokens.push(new TokenFileAuthenticator(cfg.tokenAuthFile));
  if (cfg.oidc) tokens.push(new OIDCAuthenticator(cfg.oidc));
  if (authnKC) tokens.push(new (await import('./apiserver/authn/webhook.ts')).TokenReviewAuthenticator(authnKC, { cacheTTLMs: cfg.tokenWebhookCacheTTLMs, log }));
  const authenticator = new AuthenticatorChain({ requestHeader: new RequestHeaderAuthenticator(requestHeader), clientCert: new ClientCertAuthenticator(clientCA), tokens });

  // authorization
  let authorizer: Authorizer;
  let rules: RuleResolver | undefined;
  let policyFile: string | undefined;
  if (authzKC) {
    const { SubjectAccessReviewAuthorizer } = await import('./apiserver/authz/webhook.ts');
    authorizer = new AuthorizerChain([new SubjectAccessReviewAuthorizer(authzKC, { allowCacheTTLMs: cfg.authorizedCacheTTLMs, denyCacheTTLMs: cfg.unauthorizedCacheTTLMs, log })], { alwaysAllowPaths: cfg.alwaysAllowPaths });
  } else {
    policyFile = cfg.policyFile ?? path.join(cfg.dataDir, 'policy.yaml');
    if (writeDefaultPolicy(policyFile)) log.info({ file: policyFile }, 'wrote the default authorization policy');
    const policy = watchPolicyFile(policyFile, log, { intervalMs: cfg.fileCheckIntervalMs });
    stops.push(policy.stop);
    const rbac = new RBACAuthorizer(policy);
    rules = rbac;
    authorizer = new AuthorizerChain([rbac], { alwaysAllowPaths: cfg.alwaysAllowPaths });
  }

  // the audit log
  let audit: AuditLog | undefined;
  if (cfg.audit) {
    if (cfg.audit.path !== '-') mkdirSync(path.dirname(cfg.audit.path), { recursive: true, mode: 0o700 });
    audit = new AuditLog({ path: cfg.audit.path, maxSizeBytes: cfg.audit.maxSizeMB * 1024 * 1024, maxBackups: cfg.audit.maxBackups, log });
  }

  // git credentials: Secrets in a cluster, else the credentials file
  let credentials: Credentials;
  if (kc && !cfg.credentialsFile) {
    const secrets = (await import('./kube/secrets.ts')).secretCredentials(kc, log);
    stops.push(secrets.stop);
    credentials = secrets;
  } else credentials = credentialsFile(cfg.credentialsFile && path.resolve(cfg.credentialsFile));

  return {
    cluster,
    tls,
    authenticator,
    authorizer,
    rules,
    // in a cluster kube-apiserver answers the self reviews itself
    virtualResources: cluster ? [] : SELF_REVIEW_RESOURCES,
    audit,
    credentials,
    policyFile,
    kubeConfig: kc ?? authnKC ?? authzKC,
    stop: () => stops.forEach((s) => s()),
  };
}
