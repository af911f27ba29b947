// What the controller runtime tests run against: two small test resources (widgets, gadgets)
// served by real Registries with their watch caches over a real SQLite store in a temp dir, as the
// API server's addResource builds them; a logger whose lines the test can read.
import type { ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { objectMetaSchema, type KObject } from '../../../src/api/meta.ts';
import { anyObject, arr, obj, str } from '../../../src/api/schema.ts';
import { forbidden } from '../../../src/apiserver/errors.ts';
import { Registry } from '../../../src/apiserver/registry/generic.ts';
import { statusSubresource } from '../../../src/apiserver/registry/status.ts';
import type { RequestContext, ResourceDef } from '../../../src/apiserver/registry/types.ts';
import { Cacher, CacherSet } from '../../../src/storage/store/cacher.ts';
import { SqliteStore } from '../../../src/storage/store/sqlite.ts';

export const GROUP = 'test.pkgserver.dev';

/** Users seen by the approval subresource's strategy, and what their authorize() answered. */
export type ApprovalSeen = { user: string; approve: boolean }[];

function def(kind: string, plural: string, seen: ApprovalSeen): ResourceDef {
  return {
    group: GROUP,
    version: 'v1',
    kind,
    listKind: `${kind}List`,
    plural,
    singular: kind.toLowerCase(),
    shortNames: [],
    categories: [],
    namespaced: true,
    schema: obj(kind, {
      apiVersion: str('apiVersion'),
      kind: str('kind'),
      metadata: objectMetaSchema,
      spec: obj('spec', { color: str('a colour'), refs: arr('names of gadgets', str('a gadget')), approved: str('who approved') }),
      status: anyObject('status'),
    }),
    subresources: {
      status: statusSubresource,
      // approving needs the custom verb, checked by the strategy through ctx.authorize
      approval: {
        prepareForUpdate(o, old) {
          const next = structuredClone(old);
          next.spec = { ...old.spec, approved: o.spec?.approved };
          return next;
        },
        async validateUpdate(o, _old, ctx: RequestContext) {
          const approve = ctx.authorize ? await ctx.authorize({ verb: 'approve', apiGroup: GROUP, resource: plural, namespace: o.metadata.namespace, name: o.metadata.name }) : false;
          seen.push({ user: ctx.user.name, approve });
          if (!approve) throw forbidden({ group: GROUP, resource: plural }, o.metadata.name!, `User "${ctx.user.name}" cannot approve`);
          return [];
        },
      },
    },
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    columns: [],
    fieldSelectors: {},
    strategy: {},
    description: kind,
  };
}

export interface Env {
  widgets: Registry;
  gadgets: Registry;
  approvals: ApprovalSeen;
  /** the server's own writes (trusted) */
  system: RequestContext;
  logger: Logger;
  logs: Record<string, unknown>[];
  put(reg: Registry, ns: string, name: string, spec: Record<string, unknown>): Promise<KObject>;
  setSpec(reg: Registry, ns: string, name: string, spec: Record<string, unknown>): Promise<KObject>;
  remove(reg: Registry, ns: string, name: string): Promise<void>;
}

export async function env(t: ExecutionContext): Promise<Env> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pkgserver-runtime-'));
  const store = SqliteStore.open(path.join(dir, 'store.db'));
  const cachers = new CacherSet(store);
  const approvals: ApprovalSeen = [];
  const registry = (d: ResourceDef) => new Registry(d, store, cachers.add(new Cacher(Registry.prefix(d), Registry.decode)));
  const widgets = registry(def('Widget', 'widgets', approvals));
  const gadgets = registry(def('Gadget', 'gadgets', approvals));
  await cachers.start();
  t.teardown(async () => {
    cachers.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const system: RequestContext = { user: { name: 'system:test', groups: ['system:masters'] }, dryRun: false };
  return {
    widgets,
    gadgets,
    approvals,
    system,
    logger,
    logs,
    put: (reg, ns, name, spec) => reg.create(ns, { metadata: { name, namespace: ns }, spec }, system),
    setSpec: (reg, ns, name, spec) =>
      reg.update(
        ns,
        name,
        (cur) => {
          cur.spec = spec;
          return { obj: cur };
        },
        system,
      ),
    remove: async (reg, ns, name) => {
      await reg.delete(ns, name, { dryRun: false }, system);
    },
  };
}

/** A promise with its resolve function, to hold a reconcile until the test lets it go. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}
