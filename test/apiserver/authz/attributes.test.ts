// requestAttributes: every path shape the server serves, against what kube's RequestInfoFactory
// and authorizer attributes make of it.
import test from 'ava';
import { requestAttributes } from '../../../src/apiserver/authz/attributes.ts';
import type { Attributes } from '../../../src/apiserver/authz/types.ts';

const user = { name: 'alice', groups: ['devs', 'system:authenticated'] };
const at = (method: string, pathAndQuery: string) => requestAttributes(method, new URL(pathAndQuery, 'https://127.0.0.1:6443'), user);

const PKG = '/apis/pkg.pkgserver.dev/v1alpha1';
const pkg = { apiGroup: 'pkg.pkgserver.dev', apiVersion: 'v1alpha1' };
const res = (verb: string, rest: Omit<Attributes, 'user' | 'verb' | 'resourceRequest'>): Attributes => ({ user, verb, resourceRequest: true, ...rest });
const nonRes = (verb: string, path: string): Attributes => ({ user, verb, resourceRequest: false, path });

const cases: [method: string, url: string, expected: Attributes][] = [
  // collections and objects
  ['GET', `${PKG}/namespaces/team-a/packagerevisions`, res('list', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  ['GET', `${PKG}/packagerevisions`, res('list', { ...pkg, resource: 'packagerevisions', path: `${PKG}/packagerevisions` })],
  ['GET', `${PKG}/namespaces/team-a/packagerevisions?limit=500&continue=abc`, res('list', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  ['GET', `${PKG}/namespaces/team-a/packagerevisions/x`, res('get', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisions/x` })],
  ['HEAD', `${PKG}/namespaces/team-a/packagerevisions/x`, res('get', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisions/x` })],
  ['HEAD', `${PKG}/namespaces/team-a/packagerevisions`, res('list', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  ['POST', `${PKG}/namespaces/team-a/packagerevisions`, res('create', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  ['PUT', `${PKG}/namespaces/team-a/packagerevisions/x`, res('update', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisions/x` })],
  ['PATCH', `${PKG}/namespaces/team-a/packagerevisions/x`, res('patch', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisions/x` })],
  ['DELETE', `${PKG}/namespaces/team-a/packagerevisions/x`, res('delete', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisions/x` })],
  ['DELETE', `${PKG}/namespaces/team-a/packagerevisions`, res('deletecollection', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  // names as the server makes them (realm with ":" for "/"), also percent-encoded by a client
  ['GET', `${PKG}/namespaces/team-a/packagerevisions/cluster01.deploy.infra:net.nginx.ws1`, res('get', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', name: 'cluster01.deploy.infra:net.nginx.ws1', path: `${PKG}/namespaces/team-a/packagerevisions/cluster01.deploy.infra:net.nginx.ws1` })],
  ['GET', `${PKG}/namespaces/team-a/packagerevisions/a%3Ab`, res('get', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', name: 'a:b', path: `${PKG}/namespaces/team-a/packagerevisions/a:b` })],
  // subresources
  ['GET', `${PKG}/namespaces/team-a/packagerevisions/x/approval`, res('get', { ...pkg, resource: 'packagerevisions', subresource: 'approval', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisions/x/approval` })],
  ['PUT', `${PKG}/namespaces/team-a/packagerevisions/x/approval`, res('update', { ...pkg, resource: 'packagerevisions', subresource: 'approval', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisions/x/approval` })],
  ['PATCH', `${PKG}/namespaces/team-a/packagerevisions/x/approval`, res('patch', { ...pkg, resource: 'packagerevisions', subresource: 'approval', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisions/x/approval` })],
  ['PATCH', `${PKG}/namespaces/team-a/packagerevisions/x/status`, res('patch', { ...pkg, resource: 'packagerevisions', subresource: 'status', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisions/x/status` })],
  ['PUT', `${PKG}/namespaces/team-a/packagerevisionresources/x`, res('update', { ...pkg, resource: 'packagerevisionresources', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisionresources/x` })],
  ['PUT', '/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories/catalog/status', res('update', { apiGroup: 'config.pkg.pkgserver.dev', apiVersion: 'v1alpha1', resource: 'repositories', subresource: 'status', namespace: 'default', name: 'catalog', path: '/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories/catalog/status' })],
  ['GET', '/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/packagevariants', res('list', { apiGroup: 'config.pkg.pkgserver.dev', apiVersion: 'v1alpha1', resource: 'packagevariants', namespace: 'default', path: '/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/packagevariants' })],
  // watch: the query parameter as kube parses booleans, and the legacy /watch/ prefix
  ['GET', `${PKG}/namespaces/team-a/packagerevisions?watch=true&resourceVersion=10`, res('watch', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  ['GET', `${PKG}/packagerevisions?watch=1`, res('watch', { ...pkg, resource: 'packagerevisions', path: `${PKG}/packagerevisions` })],
  ['GET', `${PKG}/packagerevisions?watch=TRUE`, res('watch', { ...pkg, resource: 'packagerevisions', path: `${PKG}/packagerevisions` })],
  ['GET', `${PKG}/packagerevisions?watch=false`, res('list', { ...pkg, resource: 'packagerevisions', path: `${PKG}/packagerevisions` })],
  ['GET', `${PKG}/packagerevisions?watch=False`, res('list', { ...pkg, resource: 'packagerevisions', path: `${PKG}/packagerevisions` })],
  ['GET', `${PKG}/packagerevisions?watch=0`, res('list', { ...pkg, resource: 'packagerevisions', path: `${PKG}/packagerevisions` })],
  ['GET', `${PKG}/packagerevisions?watch=`, res('watch', { ...pkg, resource: 'packagerevisions', path: `${PKG}/packagerevisions` })],
  ['GET', `${PKG}/namespaces/team-a/packagerevisions/x?watch=true`, res('get', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisions/x` })],
  ['GET', `${PKG}/watch/namespaces/team-a/packagerevisions`, res('watch', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', path: `${PKG}/watch/namespaces/team-a/packagerevisions` })],
  ['GET', `${PKG}/watch/namespaces/team-a/packagerevisions/x`, res('watch', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', name: 'x', path: `${PKG}/watch/namespaces/team-a/packagerevisions/x` })],
  ['GET', `${PKG}/watch/packagerevisions`, res('watch', { ...pkg, resource: 'packagerevisions', path: `${PKG}/watch/packagerevisions` })],
  // a list or watch of one object by field selector is authorized as that object
  ['GET', `${PKG}/namespaces/team-a/packagerevisions?fieldSelector=metadata.name%3Dx`, res('list', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  ['GET', `${PKG}/namespaces/team-a/packagerevisions?watch=1&fieldSelector=spec.lifecycle%3Dpublished,metadata.name%3D%3Dx`, res('watch', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', name: 'x', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  ['GET', `${PKG}/namespaces/team-a/packagerevisions?fieldSelector=metadata.name!%3Dx`, res('list', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  ['GET', `${PKG}/namespaces/team-a/packagerevisions?fieldSelector=metadata.name%3D..`, res('list', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  ['GET', `${PKG}/namespaces/team-a/packagerevisions?fieldSelector=metadata.name`, res('list', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  ['GET', `${PKG}/namespaces/team-a/packagerevisions?fieldSelector=metadata.name%3Da%3Db`, res('list', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  ['GET', `${PKG}/namespaces/team-a/packagerevisions?fieldSelector=metadata.name%3Da%5C%2Cb`, res('list', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', name: 'a,b', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  // self reviews
  ['POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', res('create', { apiGroup: 'authorization.k8s.io', apiVersion: 'v1', resource: 'selfsubjectaccessreviews', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews' })],
  ['POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', res('create', { apiGroup: 'authorization.k8s.io', apiVersion: 'v1', resource: 'selfsubjectrulesreviews', path: '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews' })],
  ['POST', '/apis/authentication.k8s.io/v1beta1/selfsubjectreviews', res('create', { apiGroup: 'authentication.k8s.io', apiVersion: 'v1beta1', resource: 'selfsubjectreviews', path: '/apis/authentication.k8s.io/v1beta1/selfsubjectreviews' })],
  // the core group and namespaces themselves
  ['GET', '/api/v1/namespaces/team-a/events?fieldSelector=involvedObject.name%3Dx', res('list', { apiGroup: '', apiVersion: 'v1', resource: 'events', namespace: 'team-a', path: '/api/v1/namespaces/team-a/events' })],
  ['GET', '/api/v1/namespaces', res('list', { apiGroup: '', apiVersion: 'v1', resource: 'namespaces', path: '/api/v1/namespaces' })],
  ['GET', '/api/v1/namespaces/team-a', res('get', { apiGroup: '', apiVersion: 'v1', resource: 'namespaces', namespace: 'team-a', name: 'team-a', path: '/api/v1/namespaces/team-a' })],
  ['PUT', '/api/v1/namespaces/team-a/status', res('update', { apiGroup: '', apiVersion: 'v1', resource: 'namespaces', subresource: 'status', namespace: 'team-a', name: 'team-a', path: '/api/v1/namespaces/team-a/status' })],
  ['PUT', '/api/v1/namespaces/team-a/finalize', res('update', { apiGroup: '', apiVersion: 'v1', resource: 'namespaces', subresource: 'finalize', namespace: 'team-a', name: 'team-a', path: '/api/v1/namespaces/team-a/finalize' })],
  ['GET', `${PKG}/namespaces/team-a`, res('get', { ...pkg, resource: 'namespaces', namespace: 'team-a', name: 'team-a', path: `${PKG}/namespaces/team-a` })],
  ['DELETE', `${PKG}/namespaces`, res('deletecollection', { ...pkg, resource: 'namespaces', path: `${PKG}/namespaces` })],
  // a method kube has no verb for
  ['OPTIONS', `${PKG}/namespaces/team-a/packagerevisions`, res('', { ...pkg, resource: 'packagerevisions', namespace: 'team-a', path: `${PKG}/namespaces/team-a/packagerevisions` })],
  // non-resource paths: the lower-cased method and the path without the query
  ['GET', '/apis', nonRes('get', '/apis')],
  ['GET', '/apis/pkg.pkgserver.dev', nonRes('get', '/apis/pkg.pkgserver.dev')],
  ['GET', PKG, nonRes('get', PKG)],
  ['GET', `${PKG}/`, nonRes('get', `${PKG}/`)],
  ['GET', '/api', nonRes('get', '/api')],
  ['GET', '/api/v1', nonRes('get', '/api/v1')],
  ['GET', '/openapi/v2', nonRes('get', '/openapi/v2')],
  ['GET', '/openapi/v3', nonRes('get', '/openapi/v3')],
  ['GET', '/openapi/v3/apis/pkg.pkgserver.dev/v1alpha1?hash=ABC', nonRes('get', '/openapi/v3/apis/pkg.pkgserver.dev/v1alpha1')],
  ['GET', '/metrics', nonRes('get', '/metrics')],
  ['GET', '/version', nonRes('get', '/version')],
  ['GET', '/livez?verbose', nonRes('get', '/livez')],
  ['GET', '/readyz/store', nonRes('get', '/readyz/store')],
  ['HEAD', '/healthz', nonRes('head', '/healthz')],
  ['POST', '/metrics', nonRes('post', '/metrics')],
  ['PUT', '/version', nonRes('put', '/version')],
  ['PATCH', '/apis', nonRes('patch', '/apis')],
  ['DELETE', '/openapi/v2', nonRes('delete', '/openapi/v2')],
  ['GET', '/', nonRes('get', '/')],
  ['GET', '/foo/bar/baz/qux', nonRes('get', '/foo/bar/baz/qux')],
];

for (const [method, url, expected] of cases) {
  test(`${method} ${url}`, (t) => {
    t.deepEqual(at(method, url), expected);
  });
}

test('a special verb with nothing after it fails as in kube (the filter answers 500)', (t) => {
  t.throws(() => at('GET', `${PKG}/watch`), { message: `unable to determine kind and namespace from url, ${PKG}/watch` });
  t.throws(() => at('GET', `${PKG}/proxy?x=1`), { message: `unable to determine kind and namespace from url, ${PKG}/proxy?x=1` });
});

test('the proxy verb takes no subresource', (t) => {
  t.deepEqual(at('GET', '/api/v1/proxy/namespaces/team-a/services/web/some/path'), res('proxy', { apiGroup: '', apiVersion: 'v1', resource: 'services', namespace: 'team-a', name: 'web', path: '/api/v1/proxy/namespaces/team-a/services/web/some/path' }));
});
