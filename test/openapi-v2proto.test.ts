import test from 'ava';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import {
  encodeOpenAPIv2,
  OPENAPI_V2_PROTO_CONTENT_TYPE,
  wantsOpenAPIv2Proto,
} from '../src/apiserver/openapi/v2proto.ts';

const GV = 'test.pkgserver.dev/v1alpha1';
const GVK = { group: 'test.pkgserver.dev', version: 'v1alpha1', kind: 'Widget' };
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const WIDGET = 'dev.pkgserver.test.v1alpha1.Widget';

const ref = (name: string) => ({ $ref: `#/definitions/${name}` });
const query = (name: string, type: string, description: string) => ({ name, in: 'query', type, uniqueItems: true, description });

/** A Swagger document shaped like the one kube-apiserver serves for a namespaced resource. */
const swagger: Record<string, unknown> = {
  swagger: '2.0',
  info: { title: 'pkgserver', version: 'v0.1.0' },
  paths: {
    [`/apis/${GV}/namespaces/{namespace}/widgets`]: {
      get: {
        description: 'list or watch objects of kind Widget',
        consumes: ['*/*'],
        produces: ['application/json', 'application/json;stream=watch'],
        schemes: ['https'],
        tags: ['testPkgserverDev_v1alpha1'],
        operationId: 'listTestPkgserverDevV1alpha1NamespacedWidget',
        parameters: [query('limit', 'integer', 'limit is a maximum number of responses to return.')],
        responses: { '200': { description: 'OK', schema: ref(`${WIDGET}List`) }, '401': { description: 'Unauthorized' } },
        'x-kubernetes-action': 'list',
        'x-kubernetes-group-version-kind': GVK,
      },
      post: {
        description: 'create a Widget',
        consumes: ['*/*'],
        produces: ['application/json'],
        operationId: 'createTestPkgserverDevV1alpha1NamespacedWidget',
        parameters: [
          { name: 'body', in: 'body', required: true, schema: ref(WIDGET) },
          query('fieldValidation', 'string', 'fieldValidation instructs the server on how to handle unknown fields.'),
        ],
        responses: { '201': { description: 'Created', schema: ref(WIDGET) } },
        'x-kubernetes-action': 'post',
        'x-kubernetes-group-version-kind': GVK,
      },
      parameters: [
        { name: 'namespace', in: 'path', required: true, type: 'string', uniqueItems: true, description: 'object name and auth scope' },
        { $ref: '#/parameters/pretty-tJGM1-ng' },
      ],
    },
    [`/apis/${GV}/namespaces/{namespace}/widgets/{name}`]: {
      get: {
        operationId: 'readTestPkgserverDevV1alpha1NamespacedWidget',
        responses: { '200': { description: 'OK', schema: ref(WIDGET) } },
        'x-kubernetes-action': 'get',
        'x-kubernetes-group-version-kind': GVK,
      },
      patch: {
        description: 'partially update the specified Widget',
        consumes: ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'],
        produces: ['application/json'],
        operationId: 'patchTestPkgserverDevV1alpha1NamespacedWidget',
        parameters: [
          { name: 'body', in: 'body', required: true, schema: ref(`${META}.Patch`) },
          query('dryRun', 'string', 'When present, indicates that modifications should not be persisted.'),
          query('fieldManager', 'string', 'fieldManager is a name associated with the actor.'),
          query('fieldValidation', 'string', 'fieldValidation instructs the server on how to handle unknown fields.'),
          query('force', 'boolean', 'Force is going to "force" Apply requests.'),
          { name: 'X-Request-Id', in: 'header', type: 'string' },
        ],
        responses: { '200': { description: 'OK', schema: ref(WIDGET) }, default: { $ref: '#/responses/Status' } },
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': GVK,
      },
      parameters: [
        { name: 'name', in: 'path', required: true, type: 'string', uniqueItems: true, description: 'name of the Widget' },
        { name: 'namespace', in: 'path', required: true, type: 'string', uniqueItems: true },
      ],
    },
  },
  definitions: {
    [WIDGET]: {
      description: 'Widget is a test resource.',
      type: 'object',
      properties: {
        apiVersion: { description: 'APIVersion defines the versioned schema of this representation of an object.', type: 'string' },
        kind: { description: 'Kind is a string value representing the REST resource this object represents.', type: 'string' },
        metadata: { ...ref(`${META}.ObjectMeta`), description: 'Standard object metadata.' },
        spec: { ...ref(`${WIDGET}Spec`), description: 'Desired state of the widget.' },
      },
      'x-kubernetes-group-version-kind': [GVK],
    },
    [`${WIDGET}Spec`]: {
      description: 'WidgetSpec is the desired state of a Widget.',
      type: 'object',
      required: ['size', 'color'],
      properties: {
        size: { description: 'Size of the widget in centimetres.', type: 'integer', format: 'int32', default: 10, minimum: 1 },
        color: { description: 'Color of the widget.', type: 'string', enum: ['red', 'green', 'blue'] },
        parts: {
          description: 'Parts the widget is assembled from.',
          type: 'array',
          items: {
            type: 'object',
            required: ['name'],
            properties: {
              name: { description: 'Name of the part.', type: 'string' },
              quantity: { description: 'How many of this part.', type: 'integer', format: 'int64' },
            },
          },
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
        },
        labels: { description: 'Free-form labels.', type: 'object', additionalProperties: { type: 'string' } },
        config: { description: 'Opaque configuration.', type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        strict: { type: 'object', additionalProperties: false },
        base: { allOf: [ref(`${WIDGET}Spec`)], nullable: true, anyOf: [{ type: 'string' }] },
      },
    },
    [`${WIDGET}List`]: {
      type: 'object',
      required: ['items'],
      properties: {
        items: { type: 'array', items: ref(WIDGET) },
        metadata: ref(`${META}.ListMeta`),
      },
      'x-kubernetes-group-version-kind': [{ ...GVK, kind: 'WidgetList' }],
    },
    [`${META}.ObjectMeta`]: {
      description: 'ObjectMeta is metadata that all persisted resources must have.',
      type: 'object',
      properties: {
        name: { description: 'Name must be unique within a namespace.', type: 'string' },
        namespace: { type: 'string' },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        creationTimestamp: { type: 'string', format: 'date-time' },
      },
    },
    [`${META}.ListMeta`]: { type: 'object', properties: { resourceVersion: { type: 'string' } } },
    [`${META}.Patch`]: { description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.', type: 'object' },
    [`${META}.Status`]: { type: 'object', properties: { message: { type: 'string' } } },
  },
  parameters: {
    'pretty-tJGM1-ng': { name: 'pretty', in: 'query', type: 'string', uniqueItems: true, description: 'If true, then the output is pretty printed.' },
  },
  responses: { Status: { description: 'Status', schema: ref(`${META}.Status`) } },
  securityDefinitions: {
    BearerToken: { type: 'apiKey', name: 'authorization', in: 'header', description: 'Bearer Token authentication' },
  },
  security: [{ BearerToken: [] }],
  'x-unknown-top-level': { anything: true },
};

// Decoded messages are plain objects (keepCase, so field names match the .proto).
type Obj = Record<string, any>;

async function decode(bytes: Uint8Array): Promise<Obj> {
  const root = new protobuf.Root();
  await root.load(fileURLToPath(new URL('../src/apiserver/openapi/OpenAPIv2.proto', import.meta.url)), { keepCase: true });
  const Document = root.lookupType('openapi.v2.Document');
  return Document.toObject(Document.decode(bytes), { longs: Number });
}

const byName = (entries: Obj[] | undefined, name: string): Obj | undefined => entries?.find((e) => e.name === name)?.value;
const yamlOf = (entries: Obj[] | undefined, name: string): unknown => {
  const value = byName(entries, name);
  return value ? JSON.parse(value.yaml) : undefined;
};

test('content type and Accept detection', (t) => {
  t.is(OPENAPI_V2_PROTO_CONTENT_TYPE, 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
  t.true(wantsOpenAPIv2Proto('application/com.github.proto-openapi.spec.v2@v1.0+protobuf'));
  t.true(wantsOpenAPIv2Proto('application/json, application/com.github.proto-openapi.spec.v2.v1.0+protobuf;q=0.9'));
  t.true(wantsOpenAPIv2Proto('Application/Com.Github.Proto-OpenAPI.Spec.V2@v1.0+Protobuf'));
  t.false(wantsOpenAPIv2Proto('application/json'));
  t.false(wantsOpenAPIv2Proto('*/*'));
  t.false(wantsOpenAPIv2Proto(''));
  t.false(wantsOpenAPIv2Proto(undefined));
});

test('document header, security and shared parameters/responses', async (t) => {
  const doc = await decode(encodeOpenAPIv2(swagger));
  t.is(doc.swagger, '2.0');
  t.deepEqual(doc.info, { title: 'pkgserver', version: 'v0.1.0' });
  t.deepEqual(yamlOf(doc.vendor_extension, 'x-unknown-top-level'), { anything: true });

  const bearer = byName(doc.security_definitions.additional_properties, 'BearerToken');
  t.deepEqual(bearer, {
    api_key_security: { type: 'apiKey', name: 'authorization', in: 'header', description: 'Bearer Token authentication' },
  });
  t.deepEqual(doc.security, [{ additional_properties: [{ name: 'BearerToken', value: {} }] }]);

  const pretty = byName(doc.parameters.additional_properties, 'pretty-tJGM1-ng');
  t.is(pretty?.non_body_parameter.query_parameter_sub_schema.name, 'pretty');
  t.true(pretty?.non_body_parameter.query_parameter_sub_schema.unique_items);
  const status = byName(doc.responses.additional_properties, 'Status');
  t.is(status?.schema.schema._ref, `#/definitions/${META}.Status`);
});

test('paths: operations, parameters, responses and extensions', async (t) => {
  const doc = await decode(encodeOpenAPIv2(swagger));
  t.deepEqual(
    doc.paths.path.map((p: Obj) => p.name),
    [`/apis/${GV}/namespaces/{namespace}/widgets`, `/apis/${GV}/namespaces/{namespace}/widgets/{name}`],
  );

  const collection = byName(doc.paths.path, `/apis/${GV}/namespaces/{namespace}/widgets`)!;
  t.is(collection.get.operation_id, 'listTestPkgserverDevV1alpha1NamespacedWidget');
  t.deepEqual(collection.get.produces, ['application/json', 'application/json;stream=watch']);
  t.deepEqual(collection.get.schemes, ['https']);
  t.deepEqual(collection.get.tags, ['testPkgserverDev_v1alpha1']);
  t.deepEqual(yamlOf(collection.get.vendor_extension, 'x-kubernetes-group-version-kind'), GVK);
  t.is(yamlOf(collection.post.vendor_extension, 'x-kubernetes-action'), 'post');
  t.is(collection.put, undefined);

  const body = collection.post.parameters[0].parameter.body_parameter;
  t.like(body, { name: 'body', in: 'body', required: true, schema: { _ref: `#/definitions/${WIDGET}` } });
  t.deepEqual(collection.parameters[0].parameter.non_body_parameter.path_parameter_sub_schema, {
    name: 'namespace',
    in: 'path',
    required: true,
    type: 'string',
    unique_items: true,
    description: 'object name and auth scope',
  });
  t.deepEqual(collection.parameters[1], { json_reference: { _ref: '#/parameters/pretty-tJGM1-ng' } });

  const limit = collection.get.parameters[0].parameter.non_body_parameter.query_parameter_sub_schema;
  t.like(limit, { name: 'limit', in: 'query', type: 'integer' });
  const listOk = byName(collection.get.responses.response_code, '200');
  t.deepEqual(listOk, { response: { description: 'OK', schema: { schema: { _ref: `#/definitions/${WIDGET}List` } } } });

  // What kubectl's v2 query-param verifier looks for: a PATCH with the GVK extension and
  // a `fieldValidation` query parameter.
  const item = byName(doc.paths.path, `/apis/${GV}/namespaces/{namespace}/widgets/{name}`)!;
  t.deepEqual(yamlOf(item.patch.vendor_extension, 'x-kubernetes-group-version-kind'), GVK);
  const queryNames = item.patch.parameters
    .map((p: Obj) => p.parameter?.non_body_parameter?.query_parameter_sub_schema?.name)
    .filter(Boolean);
  t.deepEqual(queryNames, ['dryRun', 'fieldManager', 'fieldValidation', 'force']);
  t.deepEqual(item.patch.consumes, ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml']);
  t.is(item.patch.parameters[5].parameter.non_body_parameter.header_parameter_sub_schema.name, 'X-Request-Id');
  t.deepEqual(byName(item.patch.responses.response_code, 'default'), { json_reference: { _ref: '#/responses/Status' } });
});

test('definitions: types, refs, required, enums, nesting and extensions', async (t) => {
  const doc = await decode(encodeOpenAPIv2(swagger));
  const defs: Obj[] = doc.definitions.additional_properties;
  t.deepEqual(defs.map((d) => d.name), Object.keys(swagger['definitions'] as object));

  const widget = byName(defs, WIDGET)!;
  t.is(widget.description, 'Widget is a test resource.');
  t.deepEqual(widget.type, { value: ['object'] });
  t.deepEqual(yamlOf(widget.vendor_extension, 'x-kubernetes-group-version-kind'), [GVK]);
  const widgetProps: Obj[] = widget.properties.additional_properties;
  t.deepEqual(widgetProps.map((p) => p.name), ['apiVersion', 'kind', 'metadata', 'spec']);
  t.deepEqual(byName(widgetProps, 'metadata'), { _ref: `#/definitions/${META}.ObjectMeta`, description: 'Standard object metadata.' });
  t.is(byName(widgetProps, 'spec')?._ref, `#/definitions/${WIDGET}Spec`);

  const spec = byName(defs, `${WIDGET}Spec`)!;
  t.deepEqual(spec.required, ['size', 'color']);
  const props: Obj[] = spec.properties.additional_properties;

  const size = byName(props, 'size')!;
  t.deepEqual(size.type, { value: ['integer'] });
  t.is(size.format, 'int32');
  t.is(size.minimum, 1);
  t.is(JSON.parse(size.default.yaml), 10);

  const color = byName(props, 'color')!;
  t.is(color.description, 'Color of the widget.');
  t.deepEqual(color.enum.map((e: Obj) => JSON.parse(e.yaml)), ['red', 'green', 'blue']);

  const parts = byName(props, 'parts')!;
  t.deepEqual(parts.type, { value: ['array'] });
  t.is(parts.items.schema.length, 1);
  const part = parts.items.schema[0];
  t.deepEqual(part.required, ['name']);
  t.deepEqual(byName(part.properties.additional_properties, 'quantity'), {
    description: 'How many of this part.',
    type: { value: ['integer'] },
    format: 'int64',
  });
  t.is(yamlOf(parts.vendor_extension, 'x-kubernetes-list-type'), 'map');
  t.deepEqual(yamlOf(parts.vendor_extension, 'x-kubernetes-list-map-keys'), ['name']);

  t.deepEqual(byName(props, 'labels')?.additional_properties, { schema: { type: { value: ['string'] } } });
  t.true(yamlOf(byName(props, 'config')?.vendor_extension, 'x-kubernetes-preserve-unknown-fields') as boolean);
  t.deepEqual(byName(props, 'strict')?.additional_properties, { boolean: false });
  // allOf is kept; OpenAPI v3-only keywords (nullable, anyOf) are dropped silently.
  t.deepEqual(byName(props, 'base'), { all_of: [{ _ref: `#/definitions/${WIDGET}Spec` }] });

  const list = byName(defs, `${WIDGET}List`)!;
  t.deepEqual(byName(list.properties.additional_properties, 'items')?.items, {
    schema: [{ _ref: `#/definitions/${WIDGET}` }],
  });
  t.deepEqual(yamlOf(list.vendor_extension, 'x-kubernetes-group-version-kind'), [{ ...GVK, kind: 'WidgetList' }]);
});

test('malformed and unsupported input is skipped, not thrown', async (t) => {
  const weird: Record<string, unknown> = {
    swagger: 2,
    info: 'not an object',
    paths: {
      '/a': { get: 'nope', trace: {}, parameters: [null, { in: 'cookie', name: 'c' }, { in: 'constructor', name: 'p' }, { name: 'no-in' }] },
      '/b': null,
      'x-paths-ext': 1,
    },
    definitions: {
      A: { constructor: 1, type: ['string', 'null'], items: [{ type: 'string' }, 'bad'], properties: [], required: 'x', maximum: 'big', maxLength: 1.5 },
      B: 'not a schema',
    },
    securityDefinitions: { O: { type: 'oauth2', flow: 'implicit', authorizationUrl: 'https://x', scopes: { read: 'Read', bad: 1 } }, P: { type: 'oauth2', flow: 'toString' }, Q: { type: 'mtls' } },
  };
  const doc = await decode(encodeOpenAPIv2(weird));
  t.is(doc.swagger, undefined);
  t.is(doc.info, undefined);
  t.deepEqual(doc.paths.path, [{ name: '/a', value: {} }]);
  t.deepEqual(yamlOf(doc.paths.vendor_extension, 'x-paths-ext'), 1);
  t.deepEqual(doc.definitions.additional_properties, [
    { name: 'A', value: { type: { value: ['string', 'null'] }, items: { schema: [{ type: { value: ['string'] } }] } } },
  ]);
  t.deepEqual(doc.security_definitions.additional_properties, [
    {
      name: 'O',
      value: {
        oauth2_implicit_security: {
          type: 'oauth2',
          flow: 'implicit',
          authorization_url: 'https://x',
          scopes: { additional_properties: [{ name: 'read', value: 'Read' }] },
        },
      },
    },
  ]);
});

test('empty document encodes to an empty message', (t) => {
  t.is(encodeOpenAPIv2({}).length, 0);
});
