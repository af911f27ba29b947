// Content negotiation: which representation the client asked for in Accept, and which body
// format it sent in Content-Type.
import { notAcceptable } from './errors.ts';

export interface MediaRange {
  type: string; // e.g. "application/json"
  params: Record<string, string>;
}

export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header) return [{ type: '*/*', params: {} }];
  return header
    .split(',')
    .map((part) => {
      const [type, ...ps] = part.split(';').map((s) => s.trim());
      const params: Record<string, string> = {};
      for (const p of ps) {
        const eq = p.indexOf('=');
        if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"|"$/g, '');
      }
      return { type: type.toLowerCase(), params };
    })
    .filter((m) => m.type && m.params.q !== '0');
}

/** How an object or a list is rendered for this request. */
export type Rendering =
  | { kind: 'object'; yaml: boolean }
  | { kind: 'table'; version: 'v1' | 'v1beta1' }
  | { kind: 'metadata'; version: 'v1' | 'v1beta1'; /** as=PartialObjectMetadataList (else as=PartialObjectMetadata) */ list: boolean };

const JSONISH = new Set(['application/json', 'application/*', '*/*']);

/**
 * Picks the first Accept entry we can serve: a meta.k8s.io Table, PartialObjectMetadata(List),
 * the object as JSON or YAML. Protobuf-only clients get 406.
 */
export function negotiateRendering(accept: string | undefined): Rendering {
  for (const m of parseAccept(accept)) {
    const as = m.params.as;
    if (as && m.params.g === 'meta.k8s.io' && (m.type === 'application/json' || m.type === 'application/yaml')) {
      const version = m.params.v === 'v1beta1' ? 'v1beta1' : m.params.v === 'v1' ? 'v1' : undefined;
      if (!version) continue;
      if (as === 'Table') return { kind: 'table', version };
      if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') return { kind: 'metadata', version, list: as === 'PartialObjectMetadataList' };
      continue;
    }
    if (as) continue; // another group's "as" we do not speak
    if (JSONISH.has(m.type)) return { kind: 'object', yaml: false };
    if (m.type === 'application/yaml') return { kind: 'object', yaml: true };
  }
  throw notAcceptable(['application/json', 'application/yaml', 'application/json;as=Table;v=v1;g=meta.k8s.io', 'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io']);
}

/** The bare media type of a Content-Type header. */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}
