// The health endpoints /healthz, /livez and /readyz, as k8s.io/apiserver's healthz package serves
// them: named checks (kube's `ping` first), `?verbose`, `?exclude=name`, one check at
// /<endpoint>/<name>, kube's bodies. Why a check failed goes to the log, never to the client.
import type { Logger } from 'pino';

export interface HealthCheck {
  name: string;
  /** throws (or rejects) when the check fails */
  check(): Promise<void> | void;
}

export interface HealthResponse {
  code: number;
  body: string;
  contentType: string;
}

const TEXT = 'text/plain; charset=utf-8';

/** kube's ping check: always passes. */
export const PING: HealthCheck = { name: 'ping', check: () => {} };

export class HealthChecks {
  readonly #endpoint: string;
  readonly #checks: HealthCheck[];
  readonly #log: Logger;

  /** `checks` run in order after `ping`; names must be unique. */
  constructor(endpoint: 'livez' | 'readyz' | 'healthz', checks: HealthCheck[], log: Logger) {
    this.#endpoint = endpoint;
    this.#checks = [PING, ...checks];
    this.#log = log;
    const names = this.#checks.map((c) => c.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) throw new Error(`duplicate ${endpoint} check "${dup}"`);
  }

  /** Answers GET `/<endpoint>` or `/<endpoint>/<check name>`; any other path is a 404. */
  async handle(path: string, query: URLSearchParams): Promise<HealthResponse> {
    const root = `/${this.#endpoint}`;
    if (path === root) return this.#all(query);
    const check = path.startsWith(`${root}/`) ? this.#checks.find((c) => c.name === path.slice(root.length + 1)) : undefined;
    if (!check) return { code: 404, body: '404 page not found\n', contentType: TEXT };
    const err = await run(check);
    if (err === undefined) return { code: 200, body: 'ok', contentType: TEXT };
    this.#log.warn({ check: check.name, reason: err }, `${this.#endpoint} check ${check.name} failed`);
    return { code: 500, body: 'internal server error: reason withheld\n', contentType: TEXT };
  }

  async #all(query: URLSearchParams): Promise<HealthResponse> {
    const excluded = new Set(query.getAll('exclude'));
    const unknown = new Set(excluded);
    const failed: Record<string, string> = {};
    let out = '';
    for (const check of this.#checks) {
      if (excluded.has(check.name)) {
        unknown.delete(check.name);
        out += `[+]${check.name} excluded: ok\n`;
        continue;
      }
      const err = await run(check);
      if (err === undefined) {
        out += `[+]${check.name} ok\n`;
      } else {
        failed[check.name] = err;
        out += `[-]${check.name} failed: reason withheld\n`;
      }
    }
    // names quoted as Go's %q does for printable text
    if (unknown.size > 0) out += `warn: some health checks cannot be excluded: no matches for ${[...unknown].sort().map((n) => JSON.stringify(n)).join(',')}\n`;
    const failedNames = Object.keys(failed);
    if (failedNames.length > 0) {
      this.#log.warn({ checks: failed }, `${failedNames.join(',')} check failed: ${this.#endpoint}`);
      return { code: 500, body: `${out}${this.#endpoint} check failed\n`, contentType: TEXT };
    }
    return { code: 200, body: query.has('verbose') ? `${out}${this.#endpoint} check passed\n` : 'ok', contentType: TEXT };
  }
}

/** The failure reason of one check, undefined when it passes. */
async function run(check: HealthCheck): Promise<string | undefined> {
  try {
    await check.check();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
