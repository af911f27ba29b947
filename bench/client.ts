// A keep-alive HTTPS client with the admin client certificate: what a busy kubectl or
// controller looks like to the server (one TLS handshake, then requests on open connections).
import https from 'node:https';

export interface TLSMaterial {
  ca: string;
  cert: string;
  key: string;
}

export interface Response {
  status: number;
  body: Buffer;
  /** the body parsed as JSON (lazily) */
  json<T = any>(): T;
}

export class BenchClient {
  private readonly agent: https.Agent;
  private readonly base: URL;

  constructor(baseURL: string, tls: TLSMaterial, maxSockets = 32) {
    this.base = new URL(baseURL);
    this.agent = new https.Agent({ keepAlive: true, maxSockets, ca: tls.ca, cert: tls.cert, key: tls.key });
  }

  request(method: string, path: string, opts: { body?: unknown; contentType?: string; accept?: string } = {}): Promise<Response> {
    const payload = opts.body === undefined ? undefined : Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
    const headers: Record<string, string | number> = { Accept: opts.accept ?? 'application/json' };
    if (payload) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = payload.length;
    }
    return new Promise((resolve, reject) => {
      const req = https.request({ method, hostname: this.base.hostname, port: this.base.port, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          let parsed: unknown;
          resolve({ status: res.statusCode!, body, json: <T>() => (parsed ??= JSON.parse(body.toString('utf8'))) as T });
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Like request, but rejects unless the status is 2xx. */
  async ok(method: string, path: string, opts: { body?: unknown; contentType?: string; accept?: string } = {}): Promise<Response> {
    const r = await this.request(method, path, opts);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 2000)}`);
    return r;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Calls `onEvent` with each JSON line of a watch response as it arrives (blank lines skipped). */
export function onWatchEvents<E>(res: import('node:http').IncomingMessage, onEvent: (ev: E) => void): void {
  let buf = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) onEvent(JSON.parse(line) as E);
    }
  });
}
