// The self reviews (SelfSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview): answered
// directly, with kube's statuses and errors, and through a small HTTPS server to the real kubectl
// 1.27 and 1.31 (JSON bodies) and 1.33 (protobuf bodies): `auth can-i`, `--list`, `auth whoami`.
import test from 'ava';
import YAML from 'yaml';
import { StatusError } from '../../src/apiserver/errors.ts';
import { SELF_REVIEW_RESOURCES, type VirtualResource } from '../../src/apiserver/selfreview.ts';
import type { Attributes, Authorizer, Decision, RuleResolver } from '../../src/apiserver/authz/types.ts';
import type { UserInfo } from '../../src/apiserver/registry/types.ts';
import { Kubectl, type KubectlVersion } from '../helpers/kubectl.ts';
import { bytes, envelope, int, msg, startReviewServer } from './reviewserver.ts';

const find = (group: string, version: string, plural: string): VirtualResource => {
  const r = SELF_REVIEW_RESOURCES.find((x) => x.group === group && x.version === version && x.plural === plural);
  if (!r) throw new Error(`${group}/${version} ${plural} not served`);
  return r;
};
const SSAR = find('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews');
const SSRR = find('authorization.k8s.io', 'v1', 'selfsubjectrulesreviews');
const SSR = find('authentication.k8s.io', 'v1', 'selfsubjectreviews');
const SSR_BETA = find('authentication.k8s.io', 'v1beta1', 'selfsubjectreviews');

const ALICE: UserInfo = { name: 'alice', groups: ['devs', 'system:authenticated'] };
const JSON_TYPE = 'application/json';
const PROTOBUF = 'application/vnd.kubernetes.protobuf';
const json = (o: unknown) => Buffer.from(JSON.stringify(o));

/** An authorizer answering `decision` and recording what it was asked. */
function recording(decision: Decision | Error): Authorizer & { asked: Attributes[] } {
  const asked: Attributes[] = [];
  return {
    asked,
    authorize: async (a) => {
      asked.push(a);
      if (decision instanceof Error) throw decision;
      return decision;
    },
  };
}

const ssarBody = (spec: unknown, extra: Record<string, unknown> = {}) =>
  json({ kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: { allowed: false }, ...extra });

async function statusError(t: import('ava').ExecutionContext, p: Promise<unknown>): Promise<ReturnType<StatusError['toStatus']>> {
  const e = await t.throwsAsync(p, { instanceOf: StatusError });
  return (e as StatusError).toStatus();
}

test('the resources served: create-only and cluster-scoped, as kube-apiserver lists them', (t) => {
  t.deepEqual(
    SELF_REVIEW_RESOURCES.map((r) => [`${r.group}/${r.version}`, r.plural, r.singular, r.kind, r.namespaced, r.verbs]),
    [
      ['authorization.k8s.io/v1', 'selfsubjectaccessreviews', 'selfsubjectaccessreview', 'SelfSubjectAccessReview', false, ['create']],
      ['authorization.k8s.io/v1', 'selfsubjectrulesreviews', 'selfsubjectrulesreview', 'SelfSubjectRulesReview', false, ['create']],
      ['authentication.k8s.io/v1', 'selfsubjectreviews', 'selfsubjectreview', 'SelfSubjectReview', false, ['create']],
      ['authentication.k8s.io/v1beta1', 'selfsubjectreviews', 'selfsubjectreview', 'SelfSubjectReview', false, ['create']],
    ],
  );
});

// ---------------------------------------------------------------- SelfSubjectAccessReview

test('SSAR allowed: the spec echoed, the status set, the requesting user asked about', async (t) => {
  const authorizer = recording({ decision: 'allow', reason: 'RBAC: allowed by RoleBinding "edit/team-a"' });
  const o = await SSAR.create(
    ssarBody({ resourceAttributes: { namespace: 'team-a', verb: 'create', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', bogus: 'dropped' } }),
    JSON_TYPE,
    { user: ALICE, authorizer },
  );
  t.deepEqual(o, {
    kind: 'SelfSubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec: { resourceAttributes: { namespace: 'team-a', verb: 'create', group: 'pkg.pkgserver.dev', resource: 'packagerevisions' } },
    status: { allowed: true, reason: 'RBAC: allowed by RoleBinding "edit/team-a"' },
  });
  t.deepEqual(authorizer.asked, [
    { user: ALICE, verb: 'create', resourceRequest: true, apiGroup: 'pkg.pkgserver.dev', apiVersion: '*', resource: 'packagerevisions', namespace: 'team-a' },
  ]);
});

test('SSAR every resource attribute reaches the authorizer; a version is kept', async (t) => {
  const authorizer = recording({ decision: 'allow', reason: '' });
  const ra = { namespace: 'ns', verb: 'update', group: 'pkg.pkgserver.dev', version: 'v1alpha1', resource: 'packagerevisions', subresource: 'approval', name: 'x' };
  const o = await SSAR.create(ssarBody({ resourceAttributes: ra }), JSON_TYPE, { user: ALICE, authorizer });
  t.deepEqual(o.status, { allowed: true });
  t.deepEqual(authorizer.asked, [
    { user: ALICE, verb: 'update', resourceRequest: true, apiGroup: 'pkg.pkgserver.dev', apiVersion: 'v1alpha1', resource: 'packagerevisions', subresource: 'approval', namespace: 'ns', name: 'x' },
  ]);
});

test('SSAR denied, no opinion, and an authorizer that fails', async (t) => {
  const spec = { resourceAttributes: { verb: 'approve', group: 'pkg.pkgserver.dev', resource: 'packagerevisions' } };
  const deny = await SSAR.create(ssarBody(spec), JSON_TYPE, { user: ALICE, authorizer: recording({ decision: 'deny', reason: 'approvers only' }) });
  t.deepEqual(deny.status, { allowed: false, denied: true, reason: 'approvers only' });
  const none = await SSAR.create(ssarBody(spec), JSON_TYPE, { user: ALICE, authorizer: recording({ decision: 'noOpinion', reason: '' }) });
  t.deepEqual(none.status, { allowed: false });
  const failed = await SSAR.create(ssarBody(spec), JSON_TYPE, { user: ALICE, authorizer: recording(new Error('SubjectAccessReview webhook unavailable')) });
  t.deepEqual(failed.status, { allowed: false, evaluationError: 'SubjectAccessReview webhook unavailable' });
});

test('SSAR non-resource attributes are a non-resource request', async (t) => {
  const authorizer = recording({ decision: 'noOpinion', reason: '' });
  const o = await SSAR.create(ssarBody({ nonResourceAttributes: { path: '/metrics', verb: 'get' } }), JSON_TYPE, { user: ALICE, authorizer });
  t.deepEqual(o.spec, { nonResourceAttributes: { path: '/metrics', verb: 'get' } });
  t.deepEqual(authorizer.asked, [{ user: ALICE, verb: 'get', resourceRequest: false, path: '/metrics' }]);
});

test('SSAR from YAML and from protobuf answers the same as from JSON', async (t) => {
  const spec = { resourceAttributes: { namespace: 'team-a', verb: 'get', resource: 'packagerevisions', group: 'pkg.pkgserver.dev' } };
  const ctx = { user: ALICE, authorizer: recording({ decision: 'allow', reason: 'ok' }) };
  const fromJSON = await SSAR.create(ssarBody(spec), 'application/json; charset=utf-8', ctx);
  const yaml = Buffer.from(YAML.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec }));
  t.deepEqual(await SSAR.create(yaml, 'application/yaml', ctx), fromJSON);
  const raw = msg(bytes(1, Buffer.alloc(0)), bytes(2, bytes(1, msg(bytes(1, 'team-a'), bytes(2, 'get'), bytes(3, 'pkg.pkgserver.dev'), bytes(5, 'packagerevisions')))));
  t.deepEqual(await SSAR.create(envelope('authorization.k8s.io/v1', 'SelfSubjectAccessReview', raw), PROTOBUF, ctx), fromJSON);
  // type meta left out: the endpoint's kind and version are the defaults
  t.deepEqual(await SSAR.create(envelope('', '', raw), PROTOBUF, ctx), fromJSON);
  t.deepEqual(await SSAR.create(json({ spec }), '', ctx), fromJSON);
});

test('SSAR with neither attributes is 422 Invalid, in kube words', async (t) => {
  const s = await statusError(t, SSAR.create(ssarBody({}), JSON_TYPE, { user: ALICE, authorizer: recording({ decision: 'allow', reason: '' }) }));
  t.deepEqual(s, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: '.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified',
    reason: 'Invalid',
    code: 422,
    details: {
      group: 'authorization.k8s.io',
      causes: [
        { reason: 'FieldValueInvalid', message: 'Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified', field: 'spec.resourceAttributes' },
      ],
    },
  });
  // null is a nil pointer: still neither
  const nulls = await statusError(t, SSAR.create(ssarBody({ resourceAttributes: null, nonResourceAttributes: null }), JSON_TYPE, { user: ALICE, authorizer: recording({ decision: 'allow', reason: '' }) }));
  t.is(nulls.code, 422);
});

test('SSAR with both attributes and a non-empty metadata lists both causes; nothing is asked', async (t) => {
  const authorizer = recording({ decision: 'allow', reason: '' });
  const body = json({
    kind: 'SelfSubjectAccessReview',
    metadata: { name: 'x', labels: { b: '2', a: '1' }, uid: 'wiped', creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: { resourceAttributes: { verb: 'get' }, nonResourceAttributes: { path: '/x', verb: 'get' } },
  });
  const s = await statusError(t, SSAR.create(body, JSON_TYPE, { user: ALICE, authorizer }));
  t.is(s.code, 422);
  t.is(
    s.message,
    '.authorization.k8s.io "" is invalid: [spec.nonResourceAttributes: Invalid value: {"Path":"/x","Verb":"get"}: cannot be specified in combination with resourceAttributes, ' +
      'metadata: Invalid value: {"name":"x","creationTimestamp":null,"labels":{"a":"1","b":"2"}}: must be empty]',
  );
  t.deepEqual(
    s.details?.causes?.map((c) => c.field),
    ['spec.nonResourceAttributes', 'metadata'],
  );
  t.deepEqual(authorizer.asked, []);
});

test('SSAR metadata: system fields, namespace and managedFields are not "set"', async (t) => {
  const body = ssarBody(
    { nonResourceAttributes: { path: '/healthz', verb: 'get' } },
    { metadata: { creationTimestamp: '2024-01-01T00:00:00Z', uid: 'u', selfLink: '/x', namespace: 'ns', managedFields: [{ manager: 'kubectl' }], labels: {}, generation: 0 } },
  );
  const o = await SSAR.create(body, JSON_TYPE, { user: ALICE, authorizer: recording({ decision: 'allow', reason: '' }) });
  t.deepEqual(o.metadata, { creationTimestamp: null });
  t.deepEqual(o.status, { allowed: true });
  // from protobuf: a name is set
  const raw = msg(bytes(1, bytes(1, 'named')), bytes(2, bytes(2, msg(bytes(1, '/healthz'), bytes(2, 'get')))));
  const s = await statusError(t, SSAR.create(envelope('authorization.k8s.io/v1', 'SelfSubjectAccessReview', raw), PROTOBUF, { user: ALICE, authorizer: recording({ decision: 'allow', reason: '' }) }));
  t.is(s.message, '.authorization.k8s.io "" is invalid: metadata: Invalid value: {"name":"named","creationTimestamp":null}: must be empty');
});

test('a body of another kind or version is 400 BadRequest, as the other resources answer', async (t) => {
  const ctx = { user: ALICE, authorizer: recording({ decision: 'allow', reason: '' }) };
  const spec = { nonResourceAttributes: { path: '/x', verb: 'get' } };
  const wrongKind = await statusError(t, SSAR.create(json({ kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', spec }), JSON_TYPE, ctx));
  t.deepEqual([wrongKind.code, wrongKind.reason, wrongKind.message], [400, 'BadRequest', 'SubjectAccessReview in version "v1" cannot be handled as a SelfSubjectAccessReview: the kind must be SelfSubjectAccessReview']);
  const wrongVersion = await statusError(t, SSAR.create(json({ kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1beta1', spec }), JSON_TYPE, ctx));
  t.deepEqual([wrongVersion.code, wrongVersion.message], [400, 'the API version in the data (authorization.k8s.io/v1beta1) does not match the expected API version (authorization.k8s.io/v1)']);
  const raw = bytes(2, bytes(2, msg(bytes(1, '/x'), bytes(2, 'get'))));
  const pbKind = await statusError(t, SSAR.create(envelope('authorization.k8s.io/v1', 'SelfSubjectRulesReview', raw), PROTOBUF, ctx));
  t.deepEqual([pbKind.code, pbKind.message], [400, 'SelfSubjectRulesReview in version "v1" cannot be handled as a SelfSubjectAccessReview: the kind must be SelfSubjectAccessReview']);
  const pbVersion = await statusError(t, SSAR.create(envelope('authentication.k8s.io/v1', 'SelfSubjectAccessReview', raw), PROTOBUF, ctx));
  t.deepEqual([pbVersion.code, pbVersion.message], [400, 'the API version in the data (authentication.k8s.io/v1) does not match the expected API version (authorization.k8s.io/v1)']);
  const ssr = await statusError(t, SSR.create(json({ kind: 'SelfSubjectAccessReview', apiVersion: 'authentication.k8s.io/v1' }), JSON_TYPE, ctx));
  t.is(ssr.message, 'SelfSubjectAccessReview in version "v1" cannot be handled as a SelfSubjectReview: the kind must be SelfSubjectReview');
  t.deepEqual(ctx.authorizer.asked, []);
});

test('malformed bodies are 400 BadRequest', async (t) => {
  const ctx = { user: ALICE, authorizer: recording({ decision: 'allow', reason: '' }) };
  const cases: [Buffer, string, string | RegExp][] = [
    [Buffer.from('k8s\0\x0a\x05\x0a'), PROTOBUF, 'the object provided is unrecognized (must be of type SelfSubjectAccessReview): field 1: length 5 beyond the end of the data'],
    [Buffer.from('{"kind":"SelfSubjectAccessReview"}'), PROTOBUF, 'the object provided is unrecognized (must be of type SelfSubjectAccessReview): provided data does not appear to be a protobuf message, expected prefix [107,56,115,0]'],
    [envelope('authorization.k8s.io/v1', 'SelfSubjectAccessReview', int(2, 1)), PROTOBUF, 'SelfSubjectAccessReview in version "v1" cannot be handled as a SelfSubjectAccessReview: field 2: wire type 0, expected 2 (length-delimited)'],
    [Buffer.alloc(0), JSON_TYPE, 'the request body is empty'],
    [Buffer.from('{"spec":'), JSON_TYPE, /^the request body could not be decoded: /],
    [Buffer.from('[1]'), JSON_TYPE, 'the request body must be a JSON object'],
    [json({ metadata: 'x' }), JSON_TYPE, 'SelfSubjectAccessReview in version "v1" cannot be handled as a SelfSubjectAccessReview: metadata must be an object'],
    [json({ spec: [] }), JSON_TYPE, 'SelfSubjectAccessReview in version "v1" cannot be handled as a SelfSubjectAccessReview: spec must be an object'],
    [json({ spec: { resourceAttributes: 'x' } }), JSON_TYPE, 'SelfSubjectAccessReview in version "v1" cannot be handled as a SelfSubjectAccessReview: spec.resourceAttributes must be an object'],
    [json({ spec: { resourceAttributes: { verb: 5 } } }), JSON_TYPE, 'SelfSubjectAccessReview in version "v1" cannot be handled as a SelfSubjectAccessReview: spec.resourceAttributes.verb must be a string'],
    [json({ spec: { nonResourceAttributes: { path: ['/x'] } } }), JSON_TYPE, 'SelfSubjectAccessReview in version "v1" cannot be handled as a SelfSubjectAccessReview: spec.nonResourceAttributes.path must be a string'],
  ];
  for (const [body, type, message] of cases) {
    const s = await statusError(t, SSAR.create(body, type, ctx));
    t.deepEqual([s.code, s.reason], [400, 'BadRequest'], String(message));
    if (typeof message === 'string') t.is(s.message, message);
    else t.regex(s.message, message);
  }
  const ssrr = await statusError(t, SSRR.create(json({ spec: { namespace: 3 } }), JSON_TYPE, ctx));
  t.is(ssrr.message, 'SelfSubjectRulesReview in version "v1" cannot be handled as a SelfSubjectRulesReview: spec.namespace must be a string');
  t.deepEqual(ctx.authorizer.asked, []);
});

test('an unsupported Content-Type is 415 listing JSON, YAML and protobuf', async (t) => {
  for (const r of SELF_REVIEW_RESOURCES) {
    const s = await statusError(t, r.create(json({}), 'text/plain', { user: ALICE, authorizer: recording({ decision: 'allow', reason: '' }) }));
    t.deepEqual(s, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf',
      reason: 'UnsupportedMediaType',
      code: 415,
      details: { causes: [{ reason: 'UnexpectedServerResponse', message: 'unsupported content type "text/plain"' }] },
    });
  }
});

// ---------------------------------------------------------------- SelfSubjectRulesReview

test('SSRR: the rules of the user in the namespace, empty lists omitted as kube does', async (t) => {
  const calls: [UserInfo, string][] = [];
  const rules: RuleResolver = {
    rulesFor: (user, ns) => {
      calls.push([user, ns]);
      return {
        resourceRules: [
          { verbs: ['get', 'list'], apiGroups: ['pkg.pkgserver.dev'], resources: ['packagerevisions'], resourceNames: [] },
          { verbs: ['update'], apiGroups: ['pkg.pkgserver.dev'], resources: ['packagerevisions/approval'], resourceNames: ['x'] },
        ],
        nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/metrics'] }, { verbs: ['get'] }],
        incomplete: false,
      };
    },
  };
  const body = json({ kind: 'SelfSubjectRulesReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec: { namespace: 'team-a' }, status: { resourceRules: null } });
  const o = await SSRR.create(body, JSON_TYPE, { user: ALICE, authorizer: recording({ decision: 'allow', reason: '' }), rules });
  t.deepEqual(o, {
    kind: 'SelfSubjectRulesReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec: {},
    status: {
      resourceRules: [
        { verbs: ['get', 'list'], apiGroups: ['pkg.pkgserver.dev'], resources: ['packagerevisions'] },
        { verbs: ['update'], apiGroups: ['pkg.pkgserver.dev'], resources: ['packagerevisions/approval'], resourceNames: ['x'] },
      ],
      nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/metrics'] }, { verbs: ['get'] }],
      incomplete: false,
    },
  });
  t.deepEqual(calls, [[ALICE, 'team-a']]);
});

test('SSRR without a namespace is 400 "no namespace on request"', async (t) => {
  const ctx = { user: ALICE, authorizer: recording({ decision: 'allow', reason: '' }), rules: { rulesFor: () => ({ resourceRules: [], nonResourceRules: [], incomplete: false }) } };
  for (const [body, type] of [
    [json({ spec: {} }), JSON_TYPE],
    [json({ spec: { namespace: '' } }), JSON_TYPE],
    [json({}), JSON_TYPE],
    [envelope('authorization.k8s.io/v1', 'SelfSubjectRulesReview', bytes(2, bytes(1, ''))), PROTOBUF],
  ] as const) {
    const s = await statusError(t, SSRR.create(body, type, ctx));
    t.deepEqual([s.code, s.reason, s.message], [400, 'BadRequest', 'no namespace on request']);
  }
});

test('SSRR under delegated authorization (no rules) and with a failing resolver: incomplete', async (t) => {
  const body = json({ spec: { namespace: 'team-a' } });
  const delegated = await SSRR.create(body, JSON_TYPE, { user: ALICE, authorizer: recording({ decision: 'allow', reason: '' }) });
  t.deepEqual(delegated.status, { resourceRules: [], nonResourceRules: [], incomplete: true, evaluationError: 'webhook authorizer does not support user rule resolution' });
  const failing: RuleResolver = {
    rulesFor: () => {
      throw new Error('policy file not loaded');
    },
  };
  const failed = await SSRR.create(body, JSON_TYPE, { user: ALICE, authorizer: recording({ decision: 'allow', reason: '' }), rules: failing });
  t.deepEqual(failed.status, { resourceRules: [], nonResourceRules: [], incomplete: true, evaluationError: 'policy file not loaded' });
  const partial: RuleResolver = { rulesFor: () => ({ resourceRules: [{ verbs: ['get'] }], nonResourceRules: [], incomplete: true, evaluationError: 'role "gone" not found' }) };
  const withError = await SSRR.create(body, JSON_TYPE, { user: ALICE, authorizer: recording({ decision: 'allow', reason: '' }), rules: partial });
  t.deepEqual(withError.status, { resourceRules: [{ verbs: ['get'] }], nonResourceRules: [], incomplete: true, evaluationError: 'role "gone" not found' });
});

// ---------------------------------------------------------------- SelfSubjectReview

test('SelfSubjectReview v1 and v1beta1: the user as authenticated, a creation time', async (t) => {
  const user: UserInfo = { name: 'bob', uid: 'u-1', groups: ['ops', 'system:authenticated'], extra: { scopes: ['a', 'b'] } };
  const ctx = { user, authorizer: recording({ decision: 'allow', reason: '' }) };
  for (const r of [SSR, SSR_BETA]) {
    const apiVersion = `authentication.k8s.io/${r.version}`;
    const before = Math.floor(Date.now() / 1000) * 1000;
    const o = await r.create(json({ kind: 'SelfSubjectReview', apiVersion, metadata: { creationTimestamp: null }, status: { userInfo: { username: 'forged' } } }), JSON_TYPE, ctx);
    const created = (o.metadata as { creationTimestamp: string }).creationTimestamp;
    t.regex(created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    t.true(Date.parse(created) >= before && Date.parse(created) <= Date.now());
    t.deepEqual(o, {
      kind: 'SelfSubjectReview',
      apiVersion,
      metadata: { creationTimestamp: created },
      status: { userInfo: { username: 'bob', uid: 'u-1', groups: ['ops', 'system:authenticated'], extra: { scopes: ['a', 'b'] } } },
    });
    const fromPB = await r.create(envelope(apiVersion, 'SelfSubjectReview', msg(bytes(1, Buffer.alloc(0)), bytes(2, bytes(1, Buffer.alloc(0))))), PROTOBUF, ctx);
    t.deepEqual(fromPB.status, o.status);
  }
  const bare = await SSR.create(json({}), JSON_TYPE, { user: { name: 'system:anonymous', groups: [] }, authorizer: recording({ decision: 'allow', reason: '' }) });
  t.deepEqual(bare.status, { userInfo: { username: 'system:anonymous' } });
});

// ---------------------------------------------------------------- the real kubectl

const CAN_I_LIST = [
  'Resources                                       Non-Resource URLs   Resource Names   Verbs',
  'selfsubjectaccessreviews.authorization.k8s.io   []                  []               [create]',
  'selfsubjectrulesreviews.authorization.k8s.io    []                  []               [create]',
  'packagerevisions.pkg.pkgserver.dev              []                  []               [get list]',
  '                                                [/api/*]            []               [get]',
  '                                                [/api]              []               [get]',
  '                                                [/apis]             []               [get]',
  'packagerevisions.pkg.pkgserver.dev/approval     []                  []               [update]',
  '',
].join('\n');

/** editors in team-a: create; approval only through the subresource; `approve` denied outright. */
const policy: Authorizer = {
  authorize: async (a) => {
    if (a.resourceRequest && a.namespace === 'team-a' && a.apiGroup === 'pkg.pkgserver.dev' && a.resource === 'packagerevisions') {
      if (a.verb === 'create' && !a.subresource) return { decision: 'allow', reason: 'RBAC: allowed by RoleBinding "edit/team-a"' };
      if (a.verb === 'update' && a.subresource === 'approval') return { decision: 'allow', reason: '' };
      if (a.verb === 'approve') return { decision: 'deny', reason: 'approvers only' };
    }
    return { decision: 'noOpinion', reason: '' };
  },
};

const rules: RuleResolver = {
  rulesFor: (_user, ns) => ({
    resourceRules: [
      { verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] },
      ...(ns === 'team-a'
        ? [
            { verbs: ['get', 'list'], apiGroups: ['pkg.pkgserver.dev'], resources: ['packagerevisions'] },
            { verbs: ['update'], apiGroups: ['pkg.pkgserver.dev'], resources: ['packagerevisions/approval'] },
          ]
        : []),
    ],
    nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis'] }],
    incomplete: false,
  }),
};

for (const version of ['1.27', '1.31', '1.33'] as KubectlVersion[]) {
  test(`kubectl ${version}: auth can-i yes/no, --subresource, a path, --list, and whoami`, async (t) => {
    const s = await startReviewServer({ user: 'alice', groups: ['devs', 'team-a'], authorizer: policy, rules });
    t.teardown(() => s.close());
    const k = new Kubectl(version, s.kubeconfig);
    const run = async (...args: string[]) => {
      const r = await k.run(args);
      return [r.code, r.stdout];
    };
    t.deepEqual(await run('auth', 'can-i', 'create', 'packagerevisions.pkg.pkgserver.dev', '-n', 'team-a'), [0, 'yes\n']);
    t.deepEqual(await run('auth', 'can-i', 'create', 'packagerevisions', '-n', 'team-b'), [1, 'no\n']);
    t.deepEqual(await run('auth', 'can-i', 'approve', 'packagerevisions', '-n', 'team-a'), [1, 'no - approvers only\n']);
    t.deepEqual(await run('auth', 'can-i', 'update', 'packagerevisions/blueprints-nginx-v2', '--subresource=approval', '-n', 'team-a'), [0, 'yes\n']);
    t.deepEqual(await run('auth', 'can-i', 'get', '/metrics'), [1, 'no\n']);
    t.deepEqual(await run('auth', 'can-i', '--list', '-n', 'team-a'), [0, CAN_I_LIST]);
    t.deepEqual(await run('auth', 'whoami'), [0, 'ATTRIBUTE   VALUE\nUsername    alice\nGroups      [devs team-a system:authenticated]\n']);

    const user = { name: 'alice', groups: ['devs', 'team-a', 'system:authenticated'] };
    const pr = { resourceRequest: true, apiGroup: 'pkg.pkgserver.dev', apiVersion: '*', resource: 'packagerevisions' };
    t.deepEqual(s.asked, [
      { user, verb: 'create', ...pr, namespace: 'team-a' },
      { user, verb: 'create', ...pr, namespace: 'team-b' },
      { user, verb: 'approve', ...pr, namespace: 'team-a' },
      { user, verb: 'update', ...pr, subresource: 'approval', namespace: 'team-a', name: 'blueprints-nginx-v2' },
      { user, verb: 'get', resourceRequest: false, path: '/metrics' },
    ]);
    const wire = version === '1.33' ? PROTOBUF : JSON_TYPE;
    const whoami = version === '1.27' ? '/apis/authentication.k8s.io/v1beta1/selfsubjectreviews' : '/apis/authentication.k8s.io/v1/selfsubjectreviews';
    t.deepEqual(
      s.captured.map((c) => [c.path, c.contentType, c.status]),
      [
        ...Array.from({ length: 5 }, () => ['/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', wire, 201]),
        ['/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', wire, 201],
        [whoami, wire, 201],
      ],
    );
  });
}

test('kubectl 1.33 auth can-i --list under delegated authorization: the incomplete warning', async (t) => {
  const s = await startReviewServer({ user: 'alice', groups: ['devs'], authorizer: policy });
  t.teardown(() => s.close());
  const r = await new Kubectl('1.33', s.kubeconfig).run(['auth', 'can-i', '--list', '-n', 'team-a']);
  t.deepEqual([r.code, r.stdout], [0, 'Resources   Non-Resource URLs   Resource Names   Verbs\n']);
  t.is(r.stderr, 'Warning: the list may be incomplete: webhook authorizer does not support user rule resolution\n');
});
