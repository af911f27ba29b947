// Helpers of the self-review tests. A tiny HTTPS server: the discovery `kubectl auth can-i` and
// `auth whoami` need (/api 404, /apis aggregated or legacy, /apis/pkg.pkgserver.dev/v1alpha1),
// and the self reviews of SELF_REVIEW_RESOURCES, answering as the client certificate's user;
// every POST body is kept with its headers, so tests can decode exactly what the real kubectl
// sent. And a minimal protobuf encoder for hand-built bodies.
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { aggregatedDiscovery, apiGroupList, apiResourceList, wantsAggregated } from '../../src/apiserver/discovery.ts';
import { StatusError } from '../../src/apiserver/errors.ts';
import { K8S_PROTOBUF_MAGIC } from '../../src/apiserver/protobuf.ts';
import { SELF_REVIEW_RESOURCES } from '../../src/apiserver/selfreview.ts';
import type { Attributes, Authorizer, RuleResolver } from '../../src/apiserver/authz/types.ts';
import type { ResourceDef, UserInfo } from '../../src/apiserver/registry/types.ts';
import { generateCA, issueClientCert, issueServingCert, kubeconfigYAML } from '../../src/cli/pki.ts';
import { tempDir } from '../helpers/server.ts';

export interface Captured {
  path: string;
  contentType: string;
  accept: string;
  body: Buffer;
  status: number;
  /** the response body, parsed */
  response: Record<string, unknown>;
}

export interface ReviewServer {
  kubeconfig: string;
  captured: Captured[];
  /** every Attributes the authorizer was asked about */
  asked: Attributes[];
  close(): Promise<void>;
}

const pkgrev = {
  group: 'pkg.pkgserver.dev',
  version: 'v1alpha1',
  kind: 'PackageRevision',
  plural: 'packagerevisions',
  singular: 'packagerevision',
  namespaced: true,
  verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  shortNames: ['pr'],
  categories: ['pkg'],
  subresources: { approval: {}, status: {} },
} as unknown as ResourceDef;

function send(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  res.writeHead(code, { 'Content-Type': contentType });
  res.end(JSON.stringify(body));
}

function userOf(req: IncomingMessage): UserInfo {
  const subject = (req.socket as TLSSocket).getPeerCertificate().subject ?? {};
  const o = subject.O as string | string[] | undefined;
  return { name: String(subject.CN ?? ''), groups: [...(Array.isArray(o) ? o : o ? [o] : []), 'system:authenticated'] };
}

/**
 * Starts the server on a free loopback port with a fresh CA; the kubeconfig holds a client
 * certificate for `user` (CN) in `groups` (O).
 */
export async function startReviewServer(opts: { authorizer: Authorizer; rules?: RuleResolver; user: string; groups: string[] }): Promise<ReviewServer> {
  const ca = generateCA();
  const serving = issueServingCert(ca, [], ['127.0.0.1']);
  const client = issueClientCert(ca, opts.user, opts.groups);
  const captured: Captured[] = [];
  const asked: Attributes[] = [];
  const authorizer: Authorizer = { authorize: (a) => (asked.push(a), opts.authorizer.authorize(a)) };

  const handle = async (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const url = new URL(req.url ?? '/', 'https://x');
    if (req.method === 'GET' && url.pathname === '/apis') {
      const agg = wantsAggregated(req.headers.accept);
      if (agg) return send(res, 200, aggregatedDiscovery([pkgrev], agg), `application/json;g=apidiscovery.k8s.io;v=${agg};as=APIGroupDiscoveryList`);
      return send(res, 200, apiGroupList([pkgrev]));
    }
    if (req.method === 'GET' && url.pathname === '/apis/pkg.pkgserver.dev/v1alpha1') return send(res, 200, apiResourceList([pkgrev], 'pkg.pkgserver.dev', 'v1alpha1'));
    const v = SELF_REVIEW_RESOURCES.find((r) => url.pathname === `/apis/${r.group}/${r.version}/${r.plural}`);
    if (req.method === 'POST' && v) {
      const record = { path: url.pathname, contentType: req.headers['content-type'] ?? '', accept: req.headers.accept ?? '', body };
      try {
        const o = await v.create(body, req.headers['content-type'] ?? 'application/json', { user: userOf(req), authorizer, rules: opts.rules });
        captured.push({ ...record, status: 201, response: o });
        return send(res, 201, o);
      } catch (e) {
        if (!(e instanceof StatusError)) throw e;
        captured.push({ ...record, status: e.code, response: e.toStatus() as unknown as Record<string, unknown> });
        return send(res, e.code, e.toStatus());
      }
    }
    send(res, 404, new StatusError(404, 'NotFound', 'the server could not find the requested resource').toStatus());
  };

  const server = https.createServer({ cert: serving.cert, key: serving.key, ca: ca.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((e: Error) => send(res, 500, { message: e.message }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const kubeconfig = path.join(tempDir('selfreview-'), 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYAML({ server: `https://127.0.0.1:${port}`, caCert: ca.cert, clientCert: client.cert, clientKey: client.key, namespace: 'default' }));
  return {
    kubeconfig,
    captured,
    asked,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------- hand-built protobuf

export function varint(n: bigint | number): Buffer {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return Buffer.from(out);
}

/** A field key: field number and wire type. */
export const key = (num: number, wire: number) => varint((num << 3) | wire);

/** A length-delimited field (string, bytes or embedded message). */
export const bytes = (num: number, b: Buffer | string) => {
  const data = typeof b === 'string' ? Buffer.from(b) : b;
  return Buffer.concat([key(num, 2), varint(data.length), data]);
};

/** A varint field. */
export const int = (num: number, v: bigint | number) => Buffer.concat([key(num, 0), varint(v)]);

export const msg = (...parts: Buffer[]) => Buffer.concat(parts);

/** The magic and a runtime.Unknown holding `raw`, as client-go sends a protobuf body. */
export const envelope = (apiVersion: string, kind: string, raw: Buffer) =>
  Buffer.concat([K8S_PROTOBUF_MAGIC, bytes(1, msg(bytes(1, apiVersion), bytes(2, kind))), bytes(2, raw)]);
