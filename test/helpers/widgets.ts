// A generic test resource (example.dev/v1 Widget, namespaced) for tests of the registry machinery.
import { objectMetaSchema } from '../../src/api/meta.ts';
import { anyObject, obj, str, type Schema } from '../../src/api/schema.ts';
import type { ResourceDef } from '../../src/apiserver/registry/types.ts';

/** The Widget resource with `spec` of the given schema properties, and any field overridden. */
export function widgetDef(spec: Record<string, Schema>, overrides: Partial<ResourceDef> = {}): ResourceDef {
  return {
    group: 'example.dev',
    version: 'v1',
    kind: 'Widget',
    listKind: 'WidgetList',
    plural: 'widgets',
    singular: 'widget',
    shortNames: [],
    categories: [],
    namespaced: true,
    schema: obj('Widget', { apiVersion: str('apiVersion'), kind: str('kind'), metadata: objectMetaSchema, spec: obj('spec', spec), status: anyObject('status') }),
    subresources: {},
    verbs: ['create', 'get', 'list', 'watch'],
    columns: [],
    fieldSelectors: {},
    strategy: {},
    description: 'widgets',
    ...overrides,
  };
}
