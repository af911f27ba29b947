// sendList (src/apiserver/handlers.ts): a long list is written in pieces whose concatenation is
// exactly JSON.stringify of the whole body; short lists, YAML and bodies whose list is not last go
// whole; a full socket is waited for, and a client that left ends the work.
import test from 'ava';
import { EventEmitter } from 'node:events';
import type { Response } from 'express';
import { sendList } from '../../src/apiserver/handlers.ts';
import { MappedList } from '../../src/apiserver/table.ts';

class FakeResponse extends EventEmitter {
  pieces: string[] = [];
  ended = false;
  destroyed = false;
  code = 0;
  headers: Record<string, unknown> = {};
  /** write() answers false (socket full) for these piece numbers, then emits drain */
  constructor(private readonly fullAt = new Set<number>()) {
    super();
  }
  status(c: number) {
    this.code = c;
    return this;
  }
  type() {
    return this;
  }
  send(body: string) {
    this.pieces.push(body);
    this.ended = true;
  }
  setHeader(k: string, v: unknown) {
    this.headers[k.toLowerCase()] = v;
  }
  write(s: string) {
    this.pieces.push(s);
    const full = this.fullAt.has(this.pieces.length);
    if (full) setImmediate(() => this.emit('drain'));
    return !full;
  }
  end(s?: string) {
    if (s) this.pieces.push(s);
    this.ended = true;
  }
  get body() {
    return this.pieces.join('');
  }
}

const list = (n: number) => ({
  apiVersion: 'pkg.pkgserver.dev/v1alpha1',
  kind: 'PackageRevisionList',
  metadata: { resourceVersion: '42', continue: 'abc' },
  items: Array.from({ length: n }, (_, i) => ({ metadata: { name: `r-${i}`, labels: { 'a"b': 'é\u2028' } }, spec: { n: i, x: 'y'.repeat(300), u: undefined } })),
});

test('a long list is sent in pieces that make exactly JSON.stringify of the body, waiting for drain', async (t) => {
  const body = list(3000);
  const res = new FakeResponse(new Set([1, 3]));
  await sendList(res as unknown as Response, 200, body, false);
  t.true(res.ended);
  t.is(res.code, 200);
  t.true(res.pieces.length > 5, `${res.pieces.length} pieces`);
  t.is(res.body, JSON.stringify(body));
  t.is(res.headers['content-length'], undefined, 'chunked');
});

test('a Table streams its rows; short lists, YAML and a list that is not the last field go whole', async (t) => {
  const table = { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: {}, columnDefinitions: [{ name: 'Name' }], rows: Array.from({ length: 500 }, (_, i) => ({ cells: [`n${i}`.padEnd(200, 'x'), null] })) };
  const a = new FakeResponse();
  await sendList(a as unknown as Response, 200, table, false);
  t.true(a.pieces.length > 1);
  t.is(a.body, JSON.stringify(table));
  const short = new FakeResponse();
  await sendList(short as unknown as Response, 200, list(3), false);
  t.is(short.pieces.length, 1);
  t.is(short.body, JSON.stringify(list(3)));
  const notLast = { items: list(300).items, metadata: {} };
  const b = new FakeResponse();
  await sendList(b as unknown as Response, 200, notLast, false);
  t.is(b.pieces.length, 1);
  t.is(b.body, JSON.stringify(notLast));
  const y = new FakeResponse();
  await sendList(y as unknown as Response, 200, list(300), true);
  t.true(y.body.startsWith('apiVersion: pkg.pkgserver.dev/v1alpha1'));
});

test('a client that leaves while the socket is full ends the work', async (t) => {
  const res = new FakeResponse(new Set([1]));
  res.write = function (s: string) {
    this.pieces.push(s);
    setImmediate(() => {
      this.destroyed = true;
      this.emit('close');
    });
    return false;
  };
  await sendList(res as unknown as Response, 200, list(3000), false);
  t.false(res.ended);
  t.is(res.pieces.length, 1, 'one piece, nothing after the close');
});

test('rows made on the way (MappedList) stream as the array they stand for, and go whole when few', async (t) => {
  const objs = Array.from({ length: 2000 }, (_, i) => ({ n: i, name: `obj-${i}`.padEnd(80, '.') }));
  let made = 0;
  const rows = new MappedList(objs, (o) => {
    made++;
    return { cells: [o.name, o.n] };
  });
  const body = { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '7' }, rows };
  const res = new FakeResponse();
  await sendList(res as unknown as Response, 200, body, false);
  t.true(res.pieces.length > 1);
  t.is(res.body, JSON.stringify({ ...body, rows: objs.map((o) => ({ cells: [o.name, o.n] })) }));
  t.is(made, 2000, 'each row made once');
  const few = new FakeResponse();
  const small = { kind: 'Table', metadata: {}, rows: new MappedList(objs.slice(0, 3), (o) => ({ cells: [o.n] })) };
  await sendList(few as unknown as Response, 200, small, false);
  t.is(few.body, '{"kind":"Table","metadata":{},"rows":[{"cells":[0]},{"cells":[1]},{"cells":[2]}]}');
});
