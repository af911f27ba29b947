// Discovery documents: aggregated (apidiscovery.k8s.io v2 and v2beta1) and legacy
// (APIGroupList, APIGroup, APIResourceList; APIVersions for the core group at /api).
// The legacy core group ("") is served below /api, every other group below /apis.
import { createHash } from 'node:crypto';
import { parseAccept } from './negotiate.ts';
import { groupVersions } from './openapi/builder.ts';
import { gv, servedSubresources, type ResourceDef } from './registry/types.ts';

const SUB_VERBS = ['get', 'patch', 'update'];

/** Resources of the legacy core group (/api) or of the named groups (/apis). */
export const servedBelow = (resources: ResourceDef[], prefix: 'api' | 'apis') => resources.filter((r) => (r.group === '') === (prefix === 'api'));

/** /api without the aggregated Accept: the core group's versions (metav1.APIVersions). */
export function apiVersions(resources: ResourceDef[], serverAddress: string) {
  return {
    kind: 'APIVersions',
    versions: groupVersions(servedBelow(resources, 'api')).map((g) => g.version),
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

export function aggregatedDiscovery(resources: ResourceDef[], version: 'v2' | 'v2beta1') {
  const groups = new Map<string, ResourceDef[]>();
  for (const r of resources) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: [...groups.entries()].map(([group, rs]) => ({
      // the core group has no name (omitted, as Go's omitempty does)
      metadata: { ...(group ? { name: group } : {}), creationTimestamp: null },
      versions: [...new Set(rs.map((r) => r.version))].map((v) => ({
        version: v,
        freshness: 'Current',
        resources: rs
          .filter((r) => r.version === v)
          .map((r) => ({
            resource: r.plural,
            responseKind: { group: r.group, version: r.version, kind: r.kind },
            scope: r.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: r.singular,
            verbs: r.verbs,
            shortNames: r.shortNames,
            categories: r.categories,
            subresources: servedSubresources(r).map((s) => ({
              subresource: s,
              responseKind: { group: r.group, version: r.version, kind: r.kind },
              verbs: SUB_VERBS,
            })),
          })),
      })),
    })),
  };
}

export function apiGroupList(resources: ResourceDef[]) {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groupNames(resources).map((g) => apiGroupBody(resources, g)) };
}

function groupNames(resources: ResourceDef[]): string[] {
  return [...new Set(servedBelow(resources, 'apis').map((r) => r.group))];
}

function apiGroupBody(resources: ResourceDef[], group: string) {
  const versions = groupVersions(resources)
    .filter((x) => x.group === group)
    .map((x) => ({ groupVersion: `${x.group}/${x.version}`, version: x.version }));
  return { name: group, versions, preferredVersion: versions[0] };
}

export function apiGroup(resources: ResourceDef[], group: string) {
  if (!groupNames(resources).includes(group)) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroupBody(resources, group) };
}

export function apiResourceList(resources: ResourceDef[], group: string, version: string) {
  const rs = resources.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: gv({ group, version }),
    resources: rs.flatMap((r) => [
      { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs, shortNames: r.shortNames, categories: r.categories },
      ...servedSubresources(r).map((s) => ({ name: `${r.plural}/${s}`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: SUB_VERBS })),
    ]),
  };
}

/** The aggregated format the Accept header asks for, if any (v2 preferred in Accept order). */
export function wantsAggregated(accept: string | undefined): 'v2' | 'v2beta1' | undefined {
  for (const m of parseAccept(accept)) {
    if (m.params.g === 'apidiscovery.k8s.io' && m.params.as === 'APIGroupDiscoveryList' && (m.params.v === 'v2' || m.params.v === 'v2beta1')) return m.params.v;
    if (!m.params.as && (m.type === 'application/json' || m.type === '*/*')) return undefined;
  }
  return undefined;
}

export function etag(body: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 32)}"`;
}
