// OpenAPI v3 (per group-version documents) and v2 (one Swagger document), generated from the
// resources' schemas. kubectl uses v3 for explain, validation detection and SMP (≥1.29), and v2
// protobuf (1.27/1.28); kube-apiserver's aggregator merges both.
import { createHash } from 'node:crypto';
import type { Schema } from '../../api/schema.ts';
import { gv, servedSubresources, type ResourceDef } from '../registry/types.ts';

export const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

/**
 * "config.pkg.pkgserver.dev" + "v1alpha1" + "Repository" → "dev.pkgserver.pkg.config.v1alpha1.Repository";
 * the legacy core group's kinds keep kube's names ("io.k8s.api.core.v1.Event").
 */
export function definitionName(group: string, version: string, kind: string): string {
  if (group === '') return `io.k8s.api.core.${version}.${kind}`;
  return `${group.split('.').reverse().join('.')}.${version}.${kind}`;
}

/** Where a group-version's resources are served: /api/V for the legacy core group, else /apis/G/V. */
const apiRoot = (g: { group: string; version: string }) => (g.group ? `/apis/${g.group}/${g.version}` : `/api/${g.version}`);

/** The key of a group-version in /openapi/v3 ("apis/G/V", or "api/V" for the core group). */
export const openAPIv3Path = (g: { group: string; version: string }) => apiRoot(g).slice(1);

type RefStyle = (name: string) => string;
const v3Ref: RefStyle = (n) => `#/components/schemas/${n}`;
const v2Ref: RefStyle = (n) => `#/definitions/${n}`;

/**
 * Converts an inline schema to an OpenAPI one: shared definitions (ObjectMeta, ...) become
 * references, collected into `defs`.
 */
function toOpenAPI(s: Schema, ref: RefStyle, defs: Record<string, unknown>, top = true): Record<string, unknown> {
  const named = s['x-pkgserver-ref'];
  if (named && !top) {
    if (!defs[named]) defs[named] = toOpenAPI(s, ref, defs, true);
    return { $ref: ref(named) };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'x-pkgserver-ref') continue;
    if (k === 'properties') {
      const props: Record<string, unknown> = {};
      for (const [pk, ps] of Object.entries(v as Record<string, Schema>)) {
        const conv = toOpenAPI(ps, ref, defs, false);
        // a $ref cannot carry siblings in OpenAPI 3.0: wrap it the way kube-apiserver does
        props[pk] = conv.$ref && ps.description ? { allOf: [conv], description: ps.description, ...(ps.default !== undefined ? { default: ps.default } : {}) } : conv;
      }
      out.properties = props;
    } else if (k === 'items' || (k === 'additionalProperties' && typeof v === 'object')) {
      out[k] = toOpenAPI(v as Schema, ref, defs, false);
    } else out[k] = v;
  }
  return out;
}

function gvk(r: ResourceDef) {
  return { group: r.group, version: r.version, kind: r.kind };
}

const q = (name: string, description: string, type = 'string') => ({ name, in: 'query', description, schema: { type }, uniqueItems: true });
const P = {
  dryRun: q('dryRun', 'When present, indicates that modifications should not be persisted. Valid value: All'),
  fieldManager: q('fieldManager', 'fieldManager is a name associated with the actor or entity that is making these changes.'),
  fieldValidation: q('fieldValidation', 'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn (default), Strict.'),
  force: q('force', 'Force is going to "force" Apply requests.', 'boolean'),
  pretty: q('pretty', "If 'true', then the output is pretty printed."),
  labelSelector: q('labelSelector', 'A selector to restrict the list of returned objects by their labels.'),
  fieldSelector: q('fieldSelector', 'A selector to restrict the list of returned objects by their fields.'),
  limit: q('limit', 'limit is a maximum number of responses to return for a list call.', 'integer'),
  continue: q('continue', 'The continue option should be set when retrieving more results from the server.'),
  resourceVersion: q('resourceVersion', 'resourceVersion sets a constraint on what resource versions a request may be served from.'),
  resourceVersionMatch: q('resourceVersionMatch', 'resourceVersionMatch determines how resourceVersion is applied to list calls.'),
  watch: q('watch', 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.', 'boolean'),
  allowWatchBookmarks: q('allowWatchBookmarks', 'allowWatchBookmarks requests watch events with type "BOOKMARK".', 'boolean'),
  timeoutSeconds: q('timeoutSeconds', 'Timeout for the list/watch call.', 'integer'),
  sendInitialEvents: q('sendInitialEvents', 'sendInitialEvents=true may be set together with watch=true.', 'boolean'),
  gracePeriodSeconds: q('gracePeriodSeconds', 'Ignored: objects are deleted at once unless finalizers hold them.', 'integer'),
  propagationPolicy: q('propagationPolicy', 'Whether and how garbage collection will be performed.'),
};
const pathParam = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string' }, uniqueItems: true });

const listParams = [P.allowWatchBookmarks, P.continue, P.fieldSelector, P.labelSelector, P.limit, P.resourceVersion, P.resourceVersionMatch, P.sendInitialEvents, P.timeoutSeconds, P.watch];

/** The operations of one resource, OpenAPI v3 style (v2 is derived from it). */
function operations(r: ResourceDef, ref: RefStyle) {
  const kindRef = { $ref: ref(definitionName(r.group, r.version, r.kind)) };
  const listRef = { $ref: ref(definitionName(r.group, r.version, r.listKind)) };
  const statusRef = { $ref: ref(`${META}.Status`) };
  const json = (schema: unknown) => ({ 'application/json': { schema }, 'application/yaml': { schema } });
  const ok = (schema: unknown, code = '200') => ({ [code]: { description: 'OK', content: json(schema) }, '401': { description: 'Unauthorized' } });
  const ext = (action: string) => ({ 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk(r) });
  const tag = [`${r.group ? r.group.split('.')[0] : 'core'}_${r.version}`];
  const base = r.namespaced ? `${apiRoot(r)}/namespaces/{namespace}/${r.plural}` : `${apiRoot(r)}/${r.plural}`;
  const nsParams = r.namespaced ? [pathParam('namespace', 'object name and auth scope, such as for teams and projects')] : [];
  const K = r.kind;
  const paths: Record<string, Record<string, unknown>> = {};
  paths[base] = {
    get: { tags: tag, description: `list or watch objects of kind ${K}`, operationId: `list${r.namespaced ? 'Namespaced' : ''}${K}`, parameters: listParams, responses: ok(listRef), ...ext('list') },
    post: {
      tags: tag,
      description: `create a ${K}`,
      operationId: `create${r.namespaced ? 'Namespaced' : ''}${K}`,
      parameters: [P.dryRun, P.fieldManager, P.fieldValidation],
      requestBody: { required: true, content: json(kindRef) },
      responses: { ...ok(kindRef), ...ok(kindRef, '201') },
      ...ext('post'),
    },
    parameters: [...nsParams, P.pretty],
  };
  if (r.verbs.includes('deletecollection'))
    paths[base].delete = {
      tags: tag,
      description: `delete collection of ${K}`,
      operationId: `deletecollection${r.namespaced ? 'Namespaced' : ''}${K}`,
      parameters: [P.continue, P.dryRun, P.fieldSelector, P.gracePeriodSeconds, P.labelSelector, P.limit, P.propagationPolicy, P.resourceVersion, P.resourceVersionMatch, P.timeoutSeconds],
      requestBody: { content: json({ $ref: ref(`${META}.DeleteOptions`) }) },
      responses: ok(listRef),
      ...ext('deletecollection'),
    };
  const item = (suffix: string, what: string, withDelete: boolean) => {
    const opId = (verb: string) => `${verb}${r.namespaced ? 'Namespaced' : ''}${K}${what}`;
    const p: Record<string, unknown> = {
      get: { tags: tag, description: `read the specified ${K}${what ? ` ${what.toLowerCase()}` : ''}`, operationId: opId('read'), responses: ok(kindRef), ...ext('get') },
      put: {
        tags: tag,
        description: `replace the specified ${K}${what ? ` ${what.toLowerCase()}` : ''}`,
        operationId: opId('replace'),
        parameters: [P.dryRun, P.fieldManager, P.fieldValidation],
        requestBody: { required: true, content: json(kindRef) },
        responses: { ...ok(kindRef), ...ok(kindRef, '201') },
        ...ext('put'),
      },
      patch: {
        tags: tag,
        description: `partially update the specified ${K}${what ? ` ${what.toLowerCase()}` : ''}`,
        operationId: opId('patch'),
        parameters: [P.dryRun, P.fieldManager, P.fieldValidation, P.force],
        requestBody: { required: true, content: Object.fromEntries(PATCH_TYPES.map((t) => [t, { schema: { $ref: ref(`${META}.Patch`) } }])) },
        responses: { ...ok(kindRef), ...ok(kindRef, '201') },
        ...ext('patch'),
      },
      parameters: [pathParam('name', `name of the ${K}`), ...nsParams, P.pretty],
    };
    if (withDelete)
      p.delete = {
        tags: tag,
        description: `delete a ${K}`,
        operationId: opId('delete'),
        parameters: [P.dryRun, P.gracePeriodSeconds, P.propagationPolicy],
        requestBody: { content: json({ $ref: ref(`${META}.DeleteOptions`) }) },
        responses: { ...ok(statusRef), ...ok(statusRef, '202') },
        ...ext('delete'),
      };
    paths[`${base}/{name}${suffix}`] = p;
  };
  item('', '', r.verbs.includes('delete'));
  for (const sub of servedSubresources(r)) item(`/${sub}`, sub[0].toUpperCase() + sub.slice(1), false);
  if (r.namespaced)
    paths[`${apiRoot(r)}/${r.plural}`] = {
      get: { tags: tag, description: `list or watch objects of kind ${K}`, operationId: `list${K}ForAllNamespaces`, responses: ok(listRef), ...ext('list') },
      parameters: [...listParams, P.pretty],
    };
  return paths;
}

/** Definitions every document carries: the kinds, their lists, and the meta types they use. */
function definitions(resources: ResourceDef[], ref: RefStyle): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  for (const r of resources) {
    const name = definitionName(r.group, r.version, r.kind);
    defs[name] = { ...toOpenAPI(r.schema, ref, defs), 'x-kubernetes-group-version-kind': [gvk(r)] };
    defs[definitionName(r.group, r.version, r.listKind)] = {
      type: 'object',
      description: `${r.listKind} is a list of ${r.kind}.`,
      required: ['items'],
      properties: {
        apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
        kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
        items: { type: 'array', description: `List of ${r.plural}.`, items: { $ref: ref(name) } },
        metadata: { $ref: ref(`${META}.ListMeta`) },
      },
      'x-kubernetes-group-version-kind': [{ group: r.group, version: r.version, kind: r.listKind }],
    };
  }
  defs[`${META}.ListMeta`] = {
    type: 'object',
    description: 'ListMeta describes metadata that synthetic resources must have, including lists and various status objects.',
    properties: {
      continue: { type: 'string', description: 'continue may be set if the user set a limit on the number of items returned.' },
      remainingItemCount: { type: 'integer', format: 'int64', description: 'The number of subsequent items in the list which are not included in this list response.' },
      resourceVersion: { type: 'string', description: 'String that identifies the server\'s internal version of this object.' },
    },
  };
  defs[`${META}.Status`] = {
    type: 'object',
    description: 'Status is a return value for calls that don\'t return other objects.',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      code: { type: 'integer', format: 'int32', description: 'Suggested HTTP return code for this status, 0 if not set.' },
      message: { type: 'string', description: 'A human-readable description of the status of this operation.' },
      reason: { type: 'string', description: 'A machine-readable description of why this operation is in the "Failure" status.' },
      status: { type: 'string', description: 'Status of the operation. One of: "Success" or "Failure".' },
      details: { type: 'object', description: 'Extended data associated with the reason.', 'x-kubernetes-preserve-unknown-fields': true },
      metadata: { $ref: ref(`${META}.ListMeta`) },
    },
  };
  defs[`${META}.DeleteOptions`] = {
    type: 'object',
    description: 'DeleteOptions may be provided when deleting an API object.',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      dryRun: { type: 'array', items: { type: 'string' }, description: 'When present, indicates that modifications should not be persisted.' },
      gracePeriodSeconds: { type: 'integer', format: 'int64' },
      preconditions: { type: 'object', properties: { resourceVersion: { type: 'string' }, uid: { type: 'string' } } },
      propagationPolicy: { type: 'string' },
    },
  };
  defs[`${META}.Patch`] = { type: 'object', description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.' };
  return defs;
}

export interface GroupVersion {
  group: string;
  version: string;
}

export function groupVersions(resources: ResourceDef[]): GroupVersion[] {
  const seen = new Map<string, GroupVersion>();
  for (const r of resources) seen.set(gv(r), { group: r.group, version: r.version });
  return [...seen.values()];
}

/** The OpenAPI v3 document of one group-version. */
export function openAPIv3(resources: ResourceDef[], g: GroupVersion, serverVersion: string): Record<string, unknown> {
  const mine = resources.filter((r) => r.group === g.group && r.version === g.version);
  const paths: Record<string, unknown> = {};
  for (const r of mine) Object.assign(paths, operations(r, v3Ref));
  return {
    openapi: '3.0.0',
    info: { title: 'pkgserver', version: serverVersion },
    paths,
    components: {
      schemas: definitions(mine, v3Ref),
      securitySchemes: { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } },
    },
  };
}

/** The Swagger 2.0 document of every resource (what /openapi/v2 serves). */
export function openAPIv2(resources: ResourceDef[], serverVersion: string): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const r of resources) {
    for (const [p, item] of Object.entries(operations(r, v2Ref))) paths[p] = toSwaggerPathItem(item);
  }
  return {
    swagger: '2.0',
    info: { title: 'pkgserver', version: serverVersion },
    paths,
    definitions: definitions(resources, v2Ref),
    securityDefinitions: { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } },
    security: [{ BearerToken: [] }],
  };
}

/** v3 operation → v2: requestBody becomes a body parameter plus consumes; content becomes schema. */
function toSwaggerPathItem(item: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) {
    if (k === 'parameters') {
      out.parameters = (v as any[]).map(v2Param);
      continue;
    }
    const op = { ...(v as Record<string, any>) };
    const params = (op.parameters ?? []).map(v2Param);
    if (op.requestBody) {
      const content = op.requestBody.content as Record<string, { schema: unknown }>;
      params.unshift({ name: 'body', in: 'body', required: Boolean(op.requestBody.required), schema: Object.values(content)[0].schema });
      op.consumes = Object.keys(content).filter((t) => t !== 'application/yaml');
      delete op.requestBody;
    } else op.consumes = ['*/*'];
    if (params.length) op.parameters = params;
    op.produces = ['application/json', 'application/yaml'];
    op.schemes = ['https'];
    const responses: Record<string, unknown> = {};
    for (const [code, resp] of Object.entries(op.responses as Record<string, any>)) {
      responses[code] = resp.content ? { description: resp.description, schema: Object.values(resp.content as Record<string, any>)[0].schema } : { description: resp.description };
    }
    op.responses = responses;
    out[k] = op;
  }
  return out;
}

function v2Param(p: Record<string, any>): Record<string, unknown> {
  const { schema, ...rest } = p;
  return { ...rest, type: schema?.type ?? 'string' };
}

/** kube-apiserver's hash for /openapi/v3 entries: uppercase hex SHA-512 of the document. */
export function documentHash(doc: unknown): string {
  return createHash('sha512').update(JSON.stringify(doc)).digest('hex').toUpperCase();
}
