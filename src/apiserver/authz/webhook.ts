// Delegated authorization in a cluster: each decision is a SubjectAccessReview created on
// kube-apiserver (k8s.io/apiserver plugin/pkg/authorizer/webhook as the delegating authorizer
// configures it). Allowed and not-allowed answers are cached separately (10 s each by default),
// keyed by the whole review spec; failed calls are retried with kube's backoff when the failure
// is transient, never cached, and end as "no opinion" with the error (kube answers 500 then).
import { AuthorizationV1Api, createConfiguration, ServerConfiguration, type KubeConfig, type V1SubjectAccessReviewSpec } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Attributes, Authorizer, Decision } from './types.ts';

export interface SubjectAccessReviewOptions {
  /** --authorization-webhook-cache-authorized-ttl (ms; 0: not cached) */
  allowCacheTTLMs?: number;
  /** --authorization-webhook-cache-unauthorized-ttl (ms; 0: not cached) */
  denyCacheTTLMs?: number;
  /** time limit of one call (kube's ClientTimeout) */
  timeoutMs?: number;
  /** retries of transient failures (kube's DefaultAuthWebhookRetryBackoff) */
  retry?: { initialMs: number; factor: number; jitter: number; steps: number };
  /** most answers kept (kube's LRU size) */
  cacheSize?: number;
  log?: Logger;
}

const DEFAULTS = {
  allowCacheTTLMs: 10_000,
  denyCacheTTLMs: 10_000,
  timeoutMs: 10_000,
  retry: { initialMs: 500, factor: 1.5, jitter: 0.2, steps: 5 },
  cacheSize: 8192,
};

/** requests whose attributes are longer than this together are not cached (kube's maxControlledAttrCacheSize) */
const MAX_CACHED_ATTR_SIZE = 10_000;

interface ReviewStatus {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
}

/** A failed call, with whether kube's webhook.DefaultShouldRetry would try again. */
class CallError extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
  ) {
    super(message);
  }
}

export class SubjectAccessReviewAuthorizer implements Authorizer {
  private readonly api: AuthorizationV1Api;
  private readonly opts: typeof DEFAULTS & { log?: Logger };
  private readonly cache = new Map<string, { status: ReviewStatus; expires: number }>();

  /** `kc`: the authorization kubeconfig (or the in-cluster service account) of kube-apiserver. */
  constructor(kc: KubeConfig, opts: SubjectAccessReviewOptions = {}) {
    this.opts = { ...DEFAULTS, ...opts, retry: { ...DEFAULTS.retry, ...opts.retry } };
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the authorization kubeconfig has no current cluster');
    const timeoutMs = this.opts.timeoutMs;
    this.api = new AuthorizationV1Api(
      createConfiguration({
        baseServer: new ServerConfiguration(cluster.server, {}),
        authMethods: { default: kc },
        promiseMiddleware: [
          {
            pre: async (ctx) => {
              ctx.setSignal(AbortSignal.timeout(timeoutMs));
              return ctx;
            },
            post: async (ctx) => ctx,
          },
        ],
      }),
    );
  }

  async authorize(a: Attributes): Promise<Decision> {
    const spec = reviewSpec(a);
    const key = JSON.stringify(spec);
    let status = this.cached(key);
    if (!status) {
      try {
        status = await this.review(spec);
      } catch (e) {
        const error = (e as Error).message;
        this.opts.log?.error({ err: error }, 'Failed to make webhook authorizer request');
        return { decision: 'noOpinion', reason: '', error };
      }
      if (attrSize(a) < MAX_CACHED_ATTR_SIZE) this.remember(key, status);
    }
    const reason = status.reason ?? '';
    if (status.allowed && status.denied) return { decision: 'deny', reason, error: 'webhook subject access review returned both allow and deny response' };
    if (status.denied) return { decision: 'deny', reason };
    if (status.allowed) return { decision: 'allow', reason };
    return { decision: 'noOpinion', reason };
  }

  private cached(key: string): ReviewStatus | undefined {
    const hit = this.cache.get(key);
    if (!hit) return undefined;
    this.cache.delete(key);
    if (hit.expires <= Date.now()) return undefined;
    this.cache.set(key, hit); // most recently used last
    return hit.status;
  }

  private remember(key: string, status: ReviewStatus): void {
    const ttl = status.allowed ? this.opts.allowCacheTTLMs : this.opts.denyCacheTTLMs;
    if (ttl <= 0) return;
    this.cache.delete(key);
    this.cache.set(key, { status, expires: Date.now() + ttl });
    while (this.cache.size > this.opts.cacheSize) this.cache.delete(this.cache.keys().next().value!);
  }

  /** One review, retried with exponential backoff while the failure is transient. */
  private async review(spec: V1SubjectAccessReviewSpec): Promise<ReviewStatus> {
    const { initialMs, factor, jitter, steps } = this.opts.retry;
    let delay = initialMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.api.createSubjectAccessReview({ body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec } });
        return { allowed: res.status?.allowed ?? false, denied: res.status?.denied, reason: res.status?.reason };
      } catch (e) {
        const err = callError(e, this.opts.timeoutMs);
        if (!err.retriable || attempt >= steps) throw err;
      }
      await new Promise((r) => setTimeout(r, delay * (1 + Math.random() * jitter)));
      delay *= factor;
    }
  }
}

/** The review's spec, as kube's webhook authorizer builds it (empty fields left out). */
function reviewSpec(a: Attributes): V1SubjectAccessReviewSpec {
  const u = a.user;
  const spec: V1SubjectAccessReviewSpec = {};
  if (u.name) spec.user = u.name;
  if (u.uid) spec.uid = u.uid;
  if (u.groups.length) spec.groups = [...u.groups];
  if (u.extra && Object.keys(u.extra).length) spec.extra = Object.fromEntries(Object.keys(u.extra).sort().map((k) => [k, [...u.extra![k]]]));
  if (a.resourceRequest) {
    const ra: Record<string, string> = {};
    const fields = { namespace: a.namespace, verb: a.verb, group: a.apiGroup, version: a.apiVersion, resource: a.resource, subresource: a.subresource, name: a.name };
    for (const [k, v] of Object.entries(fields)) if (v) ra[k] = v;
    spec.resourceAttributes = ra;
  } else {
    spec.nonResourceAttributes = { ...(a.path ? { path: a.path } : {}), ...(a.verb ? { verb: a.verb } : {}) };
  }
  return spec;
}

const attrSize = (a: Attributes) =>
  [a.namespace, a.verb, a.apiGroup, a.apiVersion, a.resource, a.subresource, a.name, a.path].reduce((n, s) => n + (s?.length ?? 0), 0);

/**
 * What went wrong, and whether kube retries it (webhook.DefaultShouldRetry): a reset connection,
 * 500, 504, 429, or an answer that asks to retry later. A refused connection, a client timeout
 * or any other status is final.
 */
function callError(e: unknown, timeoutMs: number): CallError {
  const err = e as { code?: number | string; body?: unknown; headers?: Record<string, string>; name?: string; type?: string; message?: string };
  if (typeof err.code === 'number') {
    let status: { message?: string; reason?: string; details?: { retryAfterSeconds?: number } } | undefined;
    try {
      const parsed = typeof err.body === 'string' ? JSON.parse(err.body) : undefined;
      if (parsed?.kind === 'Status') status = parsed;
    } catch {
      // not a Status
    }
    const code = err.code;
    const retryLater = (status?.details?.retryAfterSeconds ?? 0) > 0 || status?.reason === 'ServerTimeout' || (!status && err.headers?.['retry-after'] !== undefined);
    // client-node drops the body of a 401
    const message = status?.message || (code === 401 ? 'Unauthorized' : `the server responded with the status code ${code} to the SubjectAccessReview`);
    return new CallError(message, code === 500 || code === 504 || code === 429 || retryLater);
  }
  if (err.name === 'AbortError' || err.type === 'aborted') return new CallError(`the SubjectAccessReview did not complete within ${timeoutMs} ms`, false);
  return new CallError(err.message ?? String(e), err.code === 'ECONNRESET');
}
