// Bearer tokens delegated to kube-apiserver with a TokenReview (k8s.io/apiserver's delegating
// authenticator: plugin/pkg/authenticator/token/webhook behind token/cache). Answers are cached
// for a short TTL under an HMAC-SHA-256 of the token (the token itself is never kept), and
// concurrent reviews of one token share one request. As in kube: an authenticated answer and an
// unauthenticated one without an error are cached; an unauthenticated answer carrying
// `status.error` and a failed request are not. Network errors, 429 and 5xx are retried with
// exponential backoff within an overall timeout, then end as an AuthenticationError.
import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApiException, AuthenticationV1Api, Observable, type KubeConfig, type ObservableMiddleware, type V1TokenReview } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { bearerToken } from './chain.ts';
import { AuthenticationError, type AuthResult, type Authenticator, type UserInfo } from './types.ts';

export interface RetryBackoff {
  /** first delay (kube: 500 ms) */
  initialMs: number;
  /** growth per retry (kube: 1.5) */
  factor: number;
  /** attempts in all (kube: 5) */
  steps: number;
}

export interface TokenReviewOptions {
  /** how long an authenticated answer is kept (kube's --authentication-token-webhook-cache-ttl: 10 s) */
  cacheTTLMs?: number;
  /** how long an unauthenticated answer is kept (kube's delegating authenticator: the same 10 s) */
  failureCacheTTLMs?: number;
  /** time limit of one review, retries included (kube: 10 s) */
  timeoutMs?: number;
  retryBackoff?: RetryBackoff;
  /** told about reviews that failed (never the token) */
  log?: Logger;
}

const DEFAULT_BACKOFF: RetryBackoff = { initialMs: 500, factor: 1.5, steps: 5 };
const JITTER = 0.2;
const MAX_ENTRIES = 32_768;

/** What a review said: a user, or not authenticated (without an error). */
type Answer = { user: UserInfo } | { user?: undefined };

class ReviewFailure extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
  ) {
    super(message);
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal.removeEventListener('abort', done);
      clearTimeout(timer);
      if (signal.aborted) reject(new ReviewFailure('timed out', false));
      else resolve();
    }
    signal.addEventListener('abort', done);
  });

/** A request failure in words, without anything from the request itself. */
function describe(err: unknown, signal: AbortSignal): ReviewFailure {
  if (err instanceof ReviewFailure) return err;
  if (err instanceof ApiException) {
    let detail = '';
    try {
      const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
      if (typeof body?.message === 'string') detail = `: ${body.message}`;
    } catch {
      // not a Status
    }
    return new ReviewFailure(`HTTP ${err.code}${detail}`, err.code === 429 || err.code >= 500);
  }
  if (signal.aborted) return new ReviewFailure('timed out', false);
  const e = err as { code?: string; message?: string };
  return new ReviewFailure(e.code ?? e.message ?? String(err), true);
}

function toUser(review: V1TokenReview): UserInfo {
  const u = review.status?.user ?? {};
  return {
    name: u.username ?? '',
    ...(u.uid && { uid: u.uid }),
    groups: [...(u.groups ?? [])],
    ...(u.extra && Object.keys(u.extra).length > 0 && { extra: Object.fromEntries(Object.entries(u.extra).map(([k, v]) => [k, [...v]])) }),
  };
}

export class TokenReviewAuthenticator implements Authenticator {
  private readonly api: AuthenticationV1Api;
  private readonly hmacKey = randomBytes(32);
  private readonly cache = new Map<string, { answer: Answer; expires: number }>();
  private readonly inflight = new Map<string, Promise<Answer>>();
  private readonly successTTL: number;
  private readonly failureTTL: number;
  private readonly timeoutMs: number;
  private readonly backoff: RetryBackoff;
  private readonly log?: Logger;

  constructor(kubeConfig: KubeConfig, opts: TokenReviewOptions = {}) {
    this.api = kubeConfig.makeApiClient(AuthenticationV1Api);
    this.successTTL = opts.cacheTTLMs ?? 10_000;
    this.failureTTL = opts.failureCacheTTLMs ?? opts.cacheTTLMs ?? 10_000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.backoff = opts.retryBackoff ?? DEFAULT_BACKOFF;
    this.log = opts.log;
  }

  private key(token: string): string {
    return createHmac('sha256', this.hmacKey).update(token).digest('base64');
  }

  /** One TokenReview, retried on transient failures until the backoff or the time runs out. */
  private async review(token: string): Promise<Answer> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    const abortable: ObservableMiddleware = {
      pre: (ctx) => {
        ctx.setSignal(signal);
        return new Observable(Promise.resolve(ctx));
      },
      post: (ctx) => new Observable(Promise.resolve(ctx)),
    };
    const withSignal = { middleware: [abortable], middlewareMergeStrategy: 'append' as const };
    let delay = this.backoff.initialMs;
    for (let attempt = 1; ; attempt++) {
      let review: V1TokenReview;
      try {
        review = await this.api.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } }, withSignal);
      } catch (err) {
        const failure = describe(err, signal);
        if (!failure.retriable || attempt >= this.backoff.steps) {
          this.log?.error({ err: failure.message, attempts: attempt }, 'Failed to make webhook authenticator request');
          throw failure;
        }
        await sleep(delay * (1 + Math.random() * JITTER), signal);
        delay *= this.backoff.factor;
        continue;
      }
      if (review.status?.authenticated) return { user: toUser(review) };
      if (review.status?.error) throw new AuthenticationError(`webhook: token not authenticated: ${review.status.error}`);
      return {};
    }
  }

  private remember(key: string, answer: Answer): void {
    const ttl = answer.user ? this.successTTL : this.failureTTL;
    if (ttl <= 0) return;
    if (this.cache.size >= MAX_ENTRIES) {
      const now = Date.now();
      for (const [k, v] of this.cache) if (v.expires <= now) this.cache.delete(k);
      for (const k of this.cache.keys()) {
        if (this.cache.size < MAX_ENTRIES) break;
        this.cache.delete(k);
      }
    }
    this.cache.set(key, { answer, expires: Date.now() + ttl });
  }

  /** The answer for a token: cached, shared with a review in flight, or from a new review. */
  private async answer(token: string): Promise<Answer> {
    const key = this.key(token);
    const cached = this.cache.get(key);
    if (cached && cached.expires > Date.now()) return cached.answer;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.review(token)
        .then((answer) => {
          this.remember(key, answer);
          return answer;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    try {
      return await pending;
    } catch (err) {
      if (err instanceof AuthenticationError) throw err;
      throw new AuthenticationError(`webhook: TokenReview failed: ${(err as Error).message}`);
    }
  }

  async authenticate(req: IncomingMessage): Promise<AuthResult | undefined> {
    const token = bearerToken(req);
    if (token === undefined) return undefined;
    const { user } = await this.answer(token);
    if (!user) return undefined;
    return { user: structuredClone(user), method: 'webhook', consumedHeaders: ['authorization'] };
  }
}
