// Swagger 2.0 JSON → gnostic `openapi.v2.Document` protobuf.
//
// kubectl 1.27/1.28 talking directly to the server fetch `/openapi/v2` only in this
// protobuf form (explain, client-side validation, the fieldValidation probe, apply).
// The message layout comes from google/gnostic-models `openapiv2/OpenAPIv2.proto`,
// kept next to this module. The conversion follows gnostic's own compiler:
//   * JSON maps become ordered `repeated Named*` lists (`additional_properties`, `path`,
//     `response_code`), preserving key order;
//   * `x-*` keys become `vendor_extension` NamedAny entries whose `Any.yaml` holds the
//     value as JSON text (JSON is valid YAML; kubectl parses it with a YAML decoder);
//   * `default`, `example` and `enum` values are `Any` the same way;
//   * `$ref` is the `_ref` field.
// Scalar fields are copied by reflection over the proto type (camelCase → snake_case);
// message-typed fields are converted explicitly below. Anything that does not fit the
// proto shape is skipped rather than reported.

import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export const OPENAPI_V2_PROTO_CONTENT_TYPE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

// client-go asks with the `@` form; the dotted form is what servers answer with.
const PROTO_MEDIA_TYPES = new Set([
  'application/com.github.proto-openapi.spec.v2@v1.0+protobuf',
  OPENAPI_V2_PROTO_CONTENT_TYPE,
]);

/** True when the Accept header names the gnostic OpenAPI v2 protobuf media type. */
export function wantsOpenAPIv2Proto(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept
    .split(',')
    .some((range) => PROTO_MEDIA_TYPES.has(range.split(';', 1)[0]!.trim().toLowerCase()));
}

/** Converts a Swagger 2.0 document into an encoded gnostic `openapi.v2.Document`. */
export function encodeOpenAPIv2(swagger: Record<string, unknown>): Uint8Array {
  return protoType('Document').encode(document(swagger)).finish();
}

type Json = Record<string, unknown>;
type Msg = Record<string, unknown>;

// ---- proto loading ----------------------------------------------------------------------

let root: protobuf.Root | undefined;
const typeCache = new Map<string, protobuf.Type>();

function loadRoot(): protobuf.Root {
  // keepCase: field names stay as in the .proto (snake_case, `_ref`), which the
  // converters below use directly. `google/protobuf/any.proto` is bundled by protobufjs.
  const loaded = new protobuf.Root().loadSync(fileURLToPath(new URL('./OpenAPIv2.proto', import.meta.url)), {
    keepCase: true,
  });
  loaded.resolveAll();
  return loaded;
}

function protoType(name: string): protobuf.Type {
  let type = typeCache.get(name);
  if (!type) {
    root ??= loadRoot();
    type = root.lookupType(`openapi.v2.${name}`);
    typeCache.set(name, type);
  }
  return type;
}

// ---- generic helpers --------------------------------------------------------------------

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** gnostic `Any`: arbitrary JSON carried as YAML text. */
function any(value: unknown): Msg {
  return { yaml: JSON.stringify(value) };
}

function extensions(src: Json): Msg[] {
  return Object.entries(src)
    .filter(([key]) => key.startsWith('x-'))
    .map(([name, value]) => ({ name, value: any(value) }));
}

function scalarFits(field: protobuf.Field, value: unknown): boolean {
  switch (field.type) {
    case 'string':
      return typeof value === 'string';
    case 'bool':
      return typeof value === 'boolean';
    case 'double':
      return typeof value === 'number' && Number.isFinite(value);
    case 'int64':
      return Number.isSafeInteger(value);
    default:
      return false;
  }
}

/**
 * Copies every key of `src` that maps onto a scalar, `repeated string` or `Any` field of
 * the proto message `typeName`, and collects `x-*` keys when the message has
 * `vendor_extension`. Message-typed fields are left to the caller.
 */
function base(typeName: string, src: Json): Msg {
  const type = protoType(typeName);
  const anyType = protoType('Any');
  const msg: Msg = {};
  for (const [key, value] of Object.entries(src)) {
    const name = snakeCase(key);
    // hasOwn: keys such as `constructor` must not resolve through the prototype.
    const field = Object.hasOwn(type.fields, name) ? type.fields[name] : undefined;
    if (!field || value === undefined || value === null) continue;
    if (field.resolvedType === anyType) {
      if (!field.repeated) msg[field.name] = any(value);
      else if (Array.isArray(value)) msg[field.name] = value.map(any);
    } else if (field.resolvedType) {
      continue; // other message types: converted by the caller
    } else if (field.repeated) {
      if (Array.isArray(value)) msg[field.name] = value.filter((v) => scalarFits(field, v));
    } else if (scalarFits(field, value)) {
      msg[field.name] = value;
    }
  }
  if (type.fields['vendor_extension']) msg['vendor_extension'] = extensions(src);
  return msg;
}

/** A JSON map → gnostic ordered list of `{name, value}`, dropping values that do not convert. */
function named(src: unknown, convert: (value: unknown) => Msg | undefined, skipExtensions = false): Msg[] {
  if (!isObject(src)) return [];
  const out: Msg[] = [];
  for (const [name, raw] of Object.entries(src)) {
    if (skipExtensions && name.startsWith('x-')) continue;
    const value = convert(raw);
    if (value) out.push({ name, value });
  }
  return out;
}

function list(src: unknown, convert: (value: unknown) => Msg | undefined): Msg[] {
  if (!Array.isArray(src)) return [];
  return src.map(convert).filter((m): m is Msg => m !== undefined);
}

function strings(src: unknown): string[] {
  return Array.isArray(src) ? src.filter((s): s is string => typeof s === 'string') : [];
}

/** Builds a converter for messages that only have scalars and vendor extensions. */
function simple(typeName: string): (src: unknown) => Msg | undefined {
  return (src) => (isObject(src) ? base(typeName, src) : undefined);
}

const contact = simple('Contact');
const license = simple('License');
const externalDocs = simple('ExternalDocs');
const xml = simple('Xml');

// ---- document -----------------------------------------------------------------------------

function document(src: Json): Msg {
  return {
    ...base('Document', src),
    info: info(src['info']),
    paths: paths(src['paths']),
    definitions: isObject(src['definitions'])
      ? { additional_properties: named(src['definitions'], schema) }
      : undefined,
    parameters: isObject(src['parameters'])
      ? { additional_properties: named(src['parameters'], parameter) }
      : undefined,
    responses: isObject(src['responses'])
      ? { additional_properties: named(src['responses'], response) }
      : undefined,
    security: list(src['security'], securityRequirement),
    security_definitions: isObject(src['securityDefinitions'])
      ? { additional_properties: named(src['securityDefinitions'], securityDefinition) }
      : undefined,
    tags: list(src['tags'], tag),
    external_docs: externalDocs(src['externalDocs']),
  };
}

function info(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  return { ...base('Info', src), contact: contact(src['contact']), license: license(src['license']) };
}

function tag(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  return { ...base('Tag', src), external_docs: externalDocs(src['externalDocs']) };
}

// ---- paths and operations -----------------------------------------------------------------

function paths(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  return { vendor_extension: extensions(src), path: named(src, pathItem, true) };
}

const OPERATION_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;

function pathItem(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  const msg: Msg = { ...base('PathItem', src), parameters: list(src['parameters'], parametersItem) };
  if (typeof src['$ref'] === 'string') msg['_ref'] = src['$ref'];
  for (const method of OPERATION_METHODS) msg[method] = operation(src[method]);
  return msg;
}

function operation(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  return {
    ...base('Operation', src),
    external_docs: externalDocs(src['externalDocs']),
    parameters: list(src['parameters'], parametersItem),
    responses: responses(src['responses']),
    security: list(src['security'], securityRequirement),
  };
}

function jsonReference(src: Json): Msg | undefined {
  const ref = src['$ref'];
  if (typeof ref !== 'string') return undefined;
  return typeof src['description'] === 'string' ? { _ref: ref, description: src['description'] } : { _ref: ref };
}

function parametersItem(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  const ref = jsonReference(src);
  if (ref) return { json_reference: ref };
  const param = parameter(src);
  return param && { parameter: param };
}

// `in` → the NonBodyParameter oneof member and its message type.
const NON_BODY_PARAMETERS = new Map<string, [field: string, typeName: string]>([
  ['header', ['header_parameter_sub_schema', 'HeaderParameterSubSchema']],
  ['formData', ['form_data_parameter_sub_schema', 'FormDataParameterSubSchema']],
  ['query', ['query_parameter_sub_schema', 'QueryParameterSubSchema']],
  ['path', ['path_parameter_sub_schema', 'PathParameterSubSchema']],
]);

function parameter(src: unknown): Msg | undefined {
  if (!isObject(src) || typeof src['in'] !== 'string') return undefined;
  if (src['in'] === 'body') {
    return { body_parameter: { ...base('BodyParameter', src), schema: schema(src['schema']) } };
  }
  const target = NON_BODY_PARAMETERS.get(src['in']);
  if (!target) return undefined;
  const [field, typeName] = target;
  return {
    non_body_parameter: { [field]: { ...base(typeName, src), items: primitivesItems(src['items']) } },
  };
}

/** `items` of non-body parameters and headers: primitive-only, possibly nested. */
function primitivesItems(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  return { ...base('PrimitivesItems', src), items: primitivesItems(src['items']) };
}

function header(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  return { ...base('Header', src), items: primitivesItems(src['items']) };
}

function responses(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  return { response_code: named(src, responseValue, true), vendor_extension: extensions(src) };
}

function responseValue(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  const ref = jsonReference(src);
  if (ref) return { json_reference: ref };
  const resp = response(src);
  return resp && { response: resp };
}

function response(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  const body = src['schema'];
  return {
    ...base('Response', src),
    // gnostic picks FileSchema for `type: file`, Schema otherwise.
    schema: isObject(body)
      ? body['type'] === 'file'
        ? { file_schema: { ...base('FileSchema', body), external_docs: externalDocs(body['externalDocs']) } }
        : { schema: schema(body) }
      : undefined,
    headers: isObject(src['headers']) ? { additional_properties: named(src['headers'], header) } : undefined,
    examples: isObject(src['examples'])
      ? { additional_properties: Object.entries(src['examples']).map(([name, value]) => ({ name, value: any(value) })) }
      : undefined,
  };
}

// ---- schemas ------------------------------------------------------------------------------

function schema(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  const msg: Msg = { ...base('Schema', src) };
  if (typeof src['$ref'] === 'string') msg['_ref'] = src['$ref'];

  const type = src['type'];
  if (typeof type === 'string') msg['type'] = { value: [type] };
  else if (Array.isArray(type)) msg['type'] = { value: strings(type) };

  // Swagger allows a single schema or a tuple of schemas; gnostic stores both as a list.
  const items = src['items'];
  if (isObject(items)) msg['items'] = { schema: [schema(items)] };
  else if (Array.isArray(items)) msg['items'] = { schema: list(items, schema) };

  const additional = src['additionalProperties'];
  if (typeof additional === 'boolean') msg['additional_properties'] = { boolean: additional };
  else if (isObject(additional)) msg['additional_properties'] = { schema: schema(additional) };

  if (isObject(src['properties'])) msg['properties'] = { additional_properties: named(src['properties'], schema) };
  msg['all_of'] = list(src['allOf'], schema);
  msg['xml'] = xml(src['xml']);
  msg['external_docs'] = externalDocs(src['externalDocs']);
  return msg;
}

// ---- security -----------------------------------------------------------------------------

function securityRequirement(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  return {
    additional_properties: Object.entries(src).map(([name, scopes]) => ({ name, value: { value: strings(scopes) } })),
  };
}

// OAuth2 flow → SecurityDefinitionsItem oneof member and its message type.
const OAUTH2_FLOWS = new Map<unknown, [field: string, typeName: string]>([
  ['implicit', ['oauth2_implicit_security', 'Oauth2ImplicitSecurity']],
  ['password', ['oauth2_password_security', 'Oauth2PasswordSecurity']],
  ['application', ['oauth2_application_security', 'Oauth2ApplicationSecurity']],
  ['accessCode', ['oauth2_access_code_security', 'Oauth2AccessCodeSecurity']],
]);

function securityDefinition(src: unknown): Msg | undefined {
  if (!isObject(src)) return undefined;
  switch (src['type']) {
    case 'basic':
      return { basic_authentication_security: base('BasicAuthenticationSecurity', src) };
    case 'apiKey':
      return { api_key_security: base('ApiKeySecurity', src) };
    case 'oauth2': {
      const target = OAUTH2_FLOWS.get(src['flow']);
      if (!target) return undefined;
      const [field, typeName] = target;
      const scopes = isObject(src['scopes'])
        ? Object.entries(src['scopes'])
            .filter((entry): entry is [string, string] => typeof entry[1] === 'string')
            .map(([name, value]) => ({ name, value }))
        : [];
      return { [field]: { ...base(typeName, src), scopes: { additional_properties: scopes } } };
    }
    default:
      return undefined;
  }
}
