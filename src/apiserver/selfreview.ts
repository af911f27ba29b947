// The self reviews a standalone server answers itself (kube-apiserver's pkg/registry/
// authorization/selfsubjectaccessreview, .../selfsubjectrulesreview and pkg/registry/
// authentication/selfsubjectreview): `kubectl auth can-i`, `auth can-i --list`, `auth whoami`.
// Each is a create-only "virtual" resource: the body (JSON, YAML, or Kubernetes protobuf, which
// kubectl ≥ 1.32 sends) is decoded into the JSON API's shape, checked, evaluated for the
// requesting user, and answered as the same object with its status set. Nothing is stored.
import { timestamp } from '../api/meta.ts';
import { badRequest, fieldErr, invalid, StatusError, unsupportedMediaType, type FieldError } from './errors.ts';
import { mediaType } from './negotiate.ts';
import { decodeText } from './decode.ts';
import { decodeEnvelope, decodeSelfSubjectAccessReview, decodeSelfSubjectReview, decodeSelfSubjectRulesReview, ProtobufDecodeError } from './protobuf.ts';
import type { Attributes, Authorizer, Decision, RuleResolver, RulesResult } from './authz/types.ts';
import type { UserInfo } from './registry/types.ts';

export interface VirtualResource {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: false;
  verbs: ['create'];
  /** body already read; contentType as sent; returns the object to answer with 201 (JSON) or throws a StatusError (src/apiserver/errors.ts) */
  create(body: Buffer, contentType: string, ctx: { user: UserInfo; authorizer: Authorizer; rules?: RuleResolver }): Promise<Record<string, unknown>>;
}

type Obj = Record<string, unknown>;

const AUTHORIZATION = 'authorization.k8s.io';
const AUTHENTICATION = 'authentication.k8s.io';
const PROTOBUF = 'application/vnd.kubernetes.protobuf';
const MEDIA_TYPES = ['application/json', 'application/yaml', PROTOBUF];

interface Target {
  group: string;
  version: string;
  kind: string;
}

const gv = (t: Target) => `${t.group}/${t.version}`;

/** A body that is not a well-formed object of the kind (the wording of the server's other decoders). */
const cannotHandle = (t: Target, why: string) => badRequest(`${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: ${why}`);

function checkTypeMeta(t: Target, kind: unknown, apiVersion: unknown): void {
  if (kind !== undefined && kind !== '' && kind !== t.kind)
    throw badRequest(`${String(kind)} in version "${String(apiVersion ?? '').split('/').pop()}" cannot be handled as a ${t.kind}: the kind must be ${t.kind}`);
  if (apiVersion !== undefined && apiVersion !== '' && apiVersion !== gv(t))
    throw badRequest(`the API version in the data (${String(apiVersion)}) does not match the expected API version (${gv(t)})`);
}

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A nested object of a JSON body; undefined when absent or null (a nil pointer). */
function object(t: Target, o: Obj, key: string, path: string): Obj | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw cannotHandle(t, `${path} must be an object`);
  return v;
}

/** The named string fields of a JSON object, the empty ones left out (omitempty). */
function strings(t: Target, o: Obj, keys: string[], path: string): Obj {
  const out: Obj = {};
  for (const k of keys) {
    const v = o[k];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') throw cannotHandle(t, `${path}.${k} must be a string`);
    out[k] = v;
  }
  return out;
}

/**
 * The body as an object of the JSON API ({metadata, spec?}), from JSON, YAML or Kubernetes
 * protobuf; `fromJSON` keeps the fields the kind has (typed), `fromProtobuf` decodes the raw
 * message into the same shape.
 */
function decode(body: Buffer, contentType: string, t: Target, fromJSON: (o: Obj) => Obj, fromProtobuf: (raw: Buffer) => Obj): Obj {
  const type = mediaType(contentType) || 'application/json';
  if (!MEDIA_TYPES.includes(type)) throw unsupportedMediaType(type, MEDIA_TYPES);
  if (type === PROTOBUF) {
    let env;
    try {
      env = decodeEnvelope(body);
    } catch (e) {
      if (e instanceof ProtobufDecodeError) throw badRequest(`the object provided is unrecognized (must be of type ${t.kind}): ${e.message}`);
      throw e;
    }
    checkTypeMeta(t, env.kind, env.apiVersion);
    try {
      return fromProtobuf(env.raw);
    } catch (e) {
      if (e instanceof ProtobufDecodeError) throw cannotHandle(t, e.message);
      throw e;
    }
  }
  const o = decodeText(body.toString('utf8'), type);
  if (!isObject(o)) throw badRequest('the request body must be a JSON object');
  checkTypeMeta(t, o.kind, o.apiVersion);
  const metadata = object(t, o, 'metadata', 'metadata') ?? {};
  return { ...fromJSON(o), metadata };
}

const empty = (v: unknown) =>
  v === undefined || v === null || v === '' || v === 0 || (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);

const sortedKeys = (v: unknown) => (isObject(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v);

/**
 * What is left of the request's metadata once the create handler has wiped the system fields
 * (uid, creationTimestamp, selfLink, deletion fields), cleared the namespace (the resource is
 * cluster-scoped) and set aside managedFields, rendered as Go renders an ObjectMeta; undefined
 * when nothing is left.
 */
function leftoverMetadata(m: Obj): Obj | undefined {
  const keys = ['name', 'generateName', 'resourceVersion', 'generation', 'creationTimestamp', 'labels', 'annotations', 'ownerReferences', 'finalizers'];
  if (keys.every((k) => empty(m[k]) || k === 'creationTimestamp')) return undefined;
  const out: Obj = {};
  for (const k of keys) {
    if (k === 'creationTimestamp') out[k] = null;
    else if (!empty(m[k])) out[k] = k === 'labels' || k === 'annotations' ? sortedKeys(m[k]) : m[k];
  }
  return out;
}

/**
 * 422 on SelfSubjectAccessReview. kube names the kind from the decoded internal object, whose
 * TypeMeta the conversion leaves empty, so its message reads `.authorization.k8s.io "" is
 * invalid: …` and details carry no kind; this is copied as is.
 */
function invalidReview(errs: FieldError[]): StatusError {
  const e = invalid('', AUTHORIZATION, '', errs);
  if (e.details) delete e.details.kind;
  return e;
}

// ---------------------------------------------------------------- SelfSubjectAccessReview

const RESOURCE_KEYS = ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'];
const NON_RESOURCE_KEYS = ['path', 'verb'];

function accessReviewSpec(t: Target, o: Obj): Obj {
  const spec = object(t, o, 'spec', 'spec') ?? {};
  const ra = object(t, spec, 'resourceAttributes', 'spec.resourceAttributes');
  const nra = object(t, spec, 'nonResourceAttributes', 'spec.nonResourceAttributes');
  return {
    spec: {
      ...(ra && { resourceAttributes: strings(t, ra, RESOURCE_KEYS, 'spec.resourceAttributes') }),
      ...(nra && { nonResourceAttributes: strings(t, nra, NON_RESOURCE_KEYS, 'spec.nonResourceAttributes') }),
    },
  };
}

/** ResourceAttributesFrom / NonResourceAttributesFrom of pkg/registry/authorization/util. */
function attributesFrom(user: UserInfo, spec: Obj): Attributes {
  const opt = (key: string, v: unknown) => (typeof v === 'string' && v !== '' ? { [key]: v } : {});
  const ra = spec.resourceAttributes as Record<string, string> | undefined;
  if (ra)
    return {
      user,
      verb: ra.verb ?? '',
      resourceRequest: true,
      apiGroup: ra.group ?? '',
      apiVersion: ra.version || '*', // an unspecified version matches every version
      ...opt('resource', ra.resource),
      ...opt('subresource', ra.subresource),
      ...opt('namespace', ra.namespace),
      ...opt('name', ra.name),
    };
  const nra = spec.nonResourceAttributes as Record<string, string>;
  return { user, verb: nra.verb ?? '', resourceRequest: false, ...opt('path', nra.path) };
}

async function selfSubjectAccessReview(t: Target, body: Buffer, contentType: string, ctx: { user: UserInfo; authorizer: Authorizer }): Promise<Obj> {
  const o = decode(body, contentType, t, (j) => accessReviewSpec(t, j), decodeSelfSubjectAccessReview);
  const spec = o.spec as Obj;
  const errs: FieldError[] = [];
  const nra = spec.nonResourceAttributes as Obj | undefined;
  // the internal NonResourceAttributes has no JSON tags: Go renders its field names
  if (spec.resourceAttributes && nra)
    errs.push(fieldErr.invalid('spec.nonResourceAttributes', { Path: nra.path ?? '', Verb: nra.verb ?? '' }, 'cannot be specified in combination with resourceAttributes'));
  if (!spec.resourceAttributes && !nra)
    errs.push(fieldErr.invalid('spec.resourceAttributes', undefined, 'exactly one of nonResourceAttributes or resourceAttributes must be specified'));
  const meta = leftoverMetadata(o.metadata as Obj);
  if (meta) errs.push(fieldErr.invalid('metadata', meta, 'must be empty'));
  if (errs.length) throw invalidReview(errs);

  let decision: Decision;
  let evaluationError = '';
  try {
    decision = await ctx.authorizer.authorize(attributesFrom(ctx.user, spec));
  } catch (e) {
    // an authorizer that could not decide (e.g. a webhook that failed) has no opinion
    decision = { decision: 'noOpinion', reason: '' };
    evaluationError = (e as Error).message;
  }
  return {
    kind: t.kind,
    apiVersion: gv(t),
    metadata: { creationTimestamp: null },
    spec,
    status: {
      allowed: decision.decision === 'allow',
      ...(decision.decision === 'deny' && { denied: true }),
      ...(decision.reason && { reason: decision.reason }),
      ...(evaluationError && { evaluationError }),
    },
  };
}

// ---------------------------------------------------------------- SelfSubjectRulesReview

/** What kube's webhook authorizer answers: the delegated authorizer cannot list rules. */
const NO_RULES: RulesResult = { resourceRules: [], nonResourceRules: [], incomplete: true, evaluationError: 'webhook authorizer does not support user rule resolution' };

const nonEmpty = (key: string, v: string[] | undefined) => (v && v.length ? { [key]: v } : {});

async function selfSubjectRulesReview(t: Target, body: Buffer, contentType: string, ctx: { user: UserInfo; rules?: RuleResolver }): Promise<Obj> {
  const o = decode(body, contentType, t, (j) => ({ spec: strings(t, object(t, j, 'spec', 'spec') ?? {}, ['namespace'], 'spec') }), decodeSelfSubjectRulesReview);
  const namespace = (o.spec as Obj).namespace as string | undefined;
  if (!namespace) throw badRequest('no namespace on request');
  let r: RulesResult;
  try {
    r = ctx.rules ? ctx.rules.rulesFor(ctx.user, namespace) : NO_RULES;
  } catch (e) {
    r = { resourceRules: [], nonResourceRules: [], incomplete: true, evaluationError: (e as Error).message };
  }
  // kube answers a new object: the request's spec is not echoed
  return {
    kind: t.kind,
    apiVersion: gv(t),
    metadata: { creationTimestamp: null },
    spec: {},
    status: {
      resourceRules: r.resourceRules.map((x) => ({
        verbs: x.verbs,
        ...nonEmpty('apiGroups', x.apiGroups),
        ...nonEmpty('resources', x.resources),
        ...nonEmpty('resourceNames', x.resourceNames),
      })),
      nonResourceRules: r.nonResourceRules.map((x) => ({ verbs: x.verbs, ...nonEmpty('nonResourceURLs', x.nonResourceURLs) })),
      incomplete: r.incomplete,
      ...(r.evaluationError && { evaluationError: r.evaluationError }),
    },
  };
}

// ---------------------------------------------------------------- SelfSubjectReview

async function selfSubjectReview(t: Target, body: Buffer, contentType: string, ctx: { user: UserInfo }): Promise<Obj> {
  decode(body, contentType, t, () => ({}), decodeSelfSubjectReview);
  const u = ctx.user;
  const extra = u.extra && Object.keys(u.extra).length ? { extra: u.extra } : {};
  return {
    kind: t.kind,
    apiVersion: gv(t),
    metadata: { creationTimestamp: timestamp() },
    status: {
      userInfo: { ...(u.name && { username: u.name }), ...(u.uid && { uid: u.uid }), ...nonEmpty('groups', u.groups), ...extra },
    },
  };
}

// ----------------------------------------------------------------

type Create = (t: Target, body: Buffer, contentType: string, ctx: { user: UserInfo; authorizer: Authorizer; rules?: RuleResolver }) => Promise<Obj>;

function resource(group: string, version: string, plural: string, singular: string, kind: string, create: Create): VirtualResource {
  const t = { group, version, kind };
  return { group, version, plural, singular, kind, namespaced: false, verbs: ['create'], create: (body, contentType, ctx) => create(t, body, contentType, ctx) };
}

/** authorization.k8s.io/v1 SSAR and SSRR; authentication.k8s.io v1 and v1beta1 SelfSubjectReview (kubectl 1.27 asks v1beta1). */
export const SELF_REVIEW_RESOURCES: VirtualResource[] = [
  resource(AUTHORIZATION, 'v1', 'selfsubjectaccessreviews', 'selfsubjectaccessreview', 'SelfSubjectAccessReview', selfSubjectAccessReview),
  resource(AUTHORIZATION, 'v1', 'selfsubjectrulesreviews', 'selfsubjectrulesreview', 'SelfSubjectRulesReview', selfSubjectRulesReview),
  resource(AUTHENTICATION, 'v1', 'selfsubjectreviews', 'selfsubjectreview', 'SelfSubjectReview', selfSubjectReview),
  resource(AUTHENTICATION, 'v1beta1', 'selfsubjectreviews', 'selfsubjectreview', 'SelfSubjectReview', selfSubjectReview),
];
