// Raw HTTPS requests to a running server, for protocol tests: plain request/response, and a
// streaming watch reader that yields newline-delimited JSON events as they arrive.
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ClientRequest } from 'node:http';

export interface TLSMaterial {
  ca: string;
  cert?: string;
  key?: string;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** the parsed JSON body when the response is JSON, else the body as text */
  body: any;
  raw: Buffer;
  /** header names and values as received, in order (repeated headers stay separate) */
  rawHeaders: string[];
}

/** Every value of a header, one per header line (e.g. each `Warning`). */
export function headerValues(r: { rawHeaders: string[] }, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < r.rawHeaders.length; i += 2) if (r.rawHeaders[i].toLowerCase() === name.toLowerCase()) out.push(r.rawHeaders[i + 1]);
  return out;
}

export interface RequestOptions {
  /** an object or array is sent as JSON; a string or Buffer as is */
  body?: unknown;
  headers?: Record<string, string | string[]>;
  /** Content-Type of the body (default application/json when there is a body) */
  contentType?: string;
  /** send no client certificate */
  anonymous?: boolean;
}

function isJSON(ct: string | undefined): boolean {
  const mt = (ct ?? '').split(';')[0].trim().toLowerCase();
  return mt === 'application/json' || mt.endsWith('+json');
}

function encodeBody(body: unknown): Buffer | undefined {
  if (body === undefined) return undefined;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body);
  return Buffer.from(JSON.stringify(body));
}

export class HttpClient {
  constructor(
    readonly baseURL: string,
    private readonly tls: TLSMaterial,
  ) {}

  private open(method: string, path: string, opts: RequestOptions): { req: ClientRequest; payload?: Buffer } {
    const url = new URL(path, this.baseURL);
    const payload = encodeBody(opts.body);
    const headers: Record<string, string | string[] | number> = { ...(opts.headers ?? {}) };
    if (payload) {
      headers['Content-Type'] ??= opts.contentType ?? 'application/json';
      headers['Content-Length'] = payload.length;
    }
    const req = https.request({
      method,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers,
      ca: this.tls.ca,
      ...(opts.anonymous ? {} : { cert: this.tls.cert, key: this.tls.key }),
      agent: false,
    });
    return { req, payload };
  }

  request(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const { req, payload } = this.open(method, path, opts);
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          let body: any = raw.toString('utf8');
          if (isJSON(res.headers['content-type']) && raw.length > 0) {
            try {
              body = JSON.parse(body);
            } catch {
              // leave it as text: the test will say what it got
            }
          }
          resolve({ status: res.statusCode!, headers: res.headers, body, raw, rawHeaders: res.rawHeaders });
        });
      });
      req.end(payload);
    });
  }

  get = (path: string, opts?: RequestOptions) => this.request('GET', path, opts);
  post = (path: string, body: unknown, opts?: RequestOptions) => this.request('POST', path, { ...opts, body });
  put = (path: string, body: unknown, opts?: RequestOptions) => this.request('PUT', path, { ...opts, body });
  patch = (path: string, body: unknown, contentType: string, opts?: RequestOptions) => this.request('PATCH', path, { ...opts, body, contentType });
  delete = (path: string, body?: unknown, opts?: RequestOptions) => this.request('DELETE', path, { ...opts, body });

  /** Starts a streaming GET (a watch). Resolves when the response headers have arrived. */
  stream(path: string, opts: RequestOptions = {}): Promise<WatchStream> {
    return new Promise((resolve, reject) => {
      const { req } = this.open('GET', path, opts);
      req.on('error', reject);
      req.on('response', (res) => resolve(new WatchStream(req, res)));
      req.end();
    });
  }
}

export interface WatchEvent {
  type: string;
  object: any;
}

/** A watch response read line by line; every line must be one JSON event. */
export class WatchStream {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** every line received so far, as text */
  readonly lines: string[] = [];
  private events: WatchEvent[] = [];
  private waiters: (() => void)[] = [];
  private buf = '';
  private endedFlag = false;
  private error?: Error;
  /** resolves when the server ends the response */
  readonly ended: Promise<void>;

  constructor(
    private readonly req: ClientRequest,
    private readonly res: IncomingMessage,
  ) {
    this.status = res.statusCode!;
    this.headers = res.headers;
    res.setEncoding('utf8');
    this.ended = new Promise((resolve) => {
      const finish = () => {
        if (this.endedFlag) return;
        this.endedFlag = true;
        this.wake();
        resolve();
      };
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);
      req.on('error', finish);
    });
    res.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.lines.push(line);
        try {
          this.events.push(JSON.parse(line));
        } catch (e) {
          this.error = new Error(`watch line is not JSON: ${JSON.stringify(line)}`);
        }
      }
      this.wake();
    });
  }

  get isEnded(): boolean {
    return this.endedFlag;
  }

  /** bytes received that do not end with a newline (should be none) */
  get pending(): string {
    return this.buf;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next event; rejects after `ms` or if the stream ends first. */
  async next(ms = 5000): Promise<WatchEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.error) throw this.error;
      const e = this.events.shift();
      if (e) return e;
      if (this.endedFlag) throw new Error('watch stream ended');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no watch event within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Collects events until `pred` matches one (inclusive); rejects on timeout. */
  async until(pred: (e: WatchEvent) => boolean, ms = 5000): Promise<WatchEvent[]> {
    const deadline = Date.now() + ms;
    const seen: WatchEvent[] = [];
    for (;;) {
      const e = await this.next(Math.max(1, deadline - Date.now()));
      seen.push(e);
      if (pred(e)) return seen;
    }
  }

  /** Events that arrive within `ms` (none expected: returns what came). */
  async drain(ms: number): Promise<WatchEvent[]> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.error) throw this.error;
    const out = this.events;
    this.events = [];
    return out;
  }

  close(): void {
    this.req.destroy();
    this.res.destroy();
  }
}
