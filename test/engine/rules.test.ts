// dependencyBlockers (src/engine/rules.ts): the published catalog revisions of other packages that
// only the revision being deleted still satisfies among its package's published revisions.
import test from 'ava';
import { CATALOG_TARGET, type Lifecycle, type PackageDependency, type PackageRevision } from '../../src/api/pkg.ts';
import { dependencyBlockers } from '../../src/engine/rules.ts';

interface RevOptions {
  target?: string;
  repository?: string;
  realm?: string;
  package: string;
  revision?: string;
  lifecycle?: Lifecycle;
  needs?: Omit<PackageDependency, 'for'>[];
}

function rev(name: string, o: RevOptions): PackageRevision {
  const lifecycle = o.lifecycle ?? 'published';
  return {
    apiVersion: 'pkg.pkgserver.dev/v1alpha1',
    kind: 'PackageRevision',
    metadata: { name, namespace: 'default' },
    spec: {
      packageRevID: {
        target: o.target ?? CATALOG_TARGET,
        repository: o.repository ?? 'catalog',
        ...(o.realm ? { realm: o.realm } : {}),
        package: o.package,
        workspace: o.revision ?? 'ws',
        ...(o.revision ? { revision: o.revision } : {}),
      },
      lifecycle,
      updatePolicy: 'loose',
      tasks: [{ type: 'init' }],
    },
    ...(o.needs ? { status: { dependencies: { packages: o.needs.map((d) => ({ ...d, for: ['example.com/Widget'] })), core: [] } } } : {}),
  };
}

const needsCM = (revision: string) => [{ repository: 'catalog', package: 'cert-manager', revision }];
const cm1 = rev('cm-v1', { package: 'cert-manager', revision: 'v1' });
const cm2 = rev('cm-v2', { package: 'cert-manager', revision: 'v2' });

test('the last published revision satisfying a published dependent: the dependent is named', (t) => {
  const app = rev('app-v1', { package: 'app', revision: 'v1', needs: needsCM('*') });
  t.deepEqual(dependencyBlockers(cm1, [cm1, app]), ['PackageRevision app-v1 (needs catalog/cert-manager *)']);
});

test('another published revision that also satisfies the dependent: no blocker', (t) => {
  const app = rev('app-v1', { package: 'app', revision: 'v1', needs: needsCM('*') });
  t.deepEqual(dependencyBlockers(cm1, [cm1, cm2, app]), []);
  t.deepEqual(dependencyBlockers(cm2, [cm1, cm2, app]), []);
});

test('only the revisions satisfying the constraint count, on both sides', (t) => {
  const exact = rev('app-v1', { package: 'app', revision: 'v1', needs: needsCM('v1') });
  t.deepEqual(dependencyBlockers(cm1, [cm1, cm2, exact]), ['PackageRevision app-v1 (needs catalog/cert-manager v1)'], 'v2 does not satisfy "v1"');
  t.deepEqual(dependencyBlockers(cm2, [cm1, cm2, exact]), [], 'v2 is not what the dependent needs');

  const cm15 = rev('cm-v1-5', { package: 'cert-manager', revision: 'v1.5' });
  const range = rev('app-v2', { package: 'app', revision: 'v2', needs: needsCM('>=1.2.0 <2') });
  t.deepEqual(dependencyBlockers(cm15, [cm1, cm15, cm2, range]), ['PackageRevision app-v2 (needs catalog/cert-manager >=1.2.0 <2)']);
  const joined = rev('app-v3', { package: 'app', revision: 'v3', needs: needsCM('v1 || v2') });
  t.deepEqual(dependencyBlockers(cm2, [cm1, cm2, joined]), []);
  t.deepEqual(dependencyBlockers(cm2, [cm2, cm15, joined]), ['PackageRevision app-v3 (needs catalog/cert-manager v1 || v2)'], 'v1.5 is none of v1 and v2');
});

test('dependents that are not published do not count', (t) => {
  for (const lifecycle of ['draft', 'proposed', 'deletionProposed'] as const) {
    const app = rev('app', { package: 'app', revision: lifecycle === 'deletionProposed' ? 'v1' : undefined, lifecycle, needs: needsCM('*') });
    t.deepEqual(dependencyBlockers(cm1, [cm1, app]), [], lifecycle);
  }
});

test('revisions proposed for deletion do not count as satisfying the dependent', (t) => {
  const app = rev('app-v1', { package: 'app', revision: 'v1', needs: needsCM('*') });
  const cm2Going = rev('cm-v2', { package: 'cert-manager', revision: 'v2', lifecycle: 'deletionProposed' });
  t.deepEqual(dependencyBlockers(cm1, [cm1, cm2Going, app]), ['PackageRevision app-v1 (needs catalog/cert-manager *)']);
  // the revision being deleted is itself usually proposed for deletion: still a blocker
  const cm1Going = rev('cm-v1', { package: 'cert-manager', revision: 'v1', lifecycle: 'deletionProposed' });
  t.deepEqual(dependencyBlockers(cm1Going, [cm1Going, app]), ['PackageRevision app-v1 (needs catalog/cert-manager *)']);
});

test('a revision of a deployment target, or without a revision, blocks nothing', (t) => {
  const app = rev('app-v1', { package: 'app', revision: 'v1', needs: needsCM('*') });
  const deployed = rev('prod-cm-v1', { target: 'prod', package: 'cert-manager', revision: 'v1' });
  t.deepEqual(dependencyBlockers(deployed, [deployed, app]), []);
  const draft = rev('cm-draft', { package: 'cert-manager', lifecycle: 'draft' });
  t.deepEqual(dependencyBlockers(draft, [draft, app]), []);
});

test('a same-named package of a deployment target neither satisfies nor depends', (t) => {
  const app = rev('app-v1', { package: 'app', revision: 'v1', needs: needsCM('*') });
  const deployed = rev('prod-cm-v2', { target: 'prod', package: 'cert-manager', revision: 'v2' });
  t.deepEqual(dependencyBlockers(cm1, [cm1, deployed, app]), ['PackageRevision app-v1 (needs catalog/cert-manager *)']);
  const deployedApp = rev('prod-app-v1', { target: 'prod', package: 'app', revision: 'v1', needs: needsCM('*') });
  t.deepEqual(dependencyBlockers(cm1, [cm1, deployedApp]), []);
});

test('the package is told by repository, realm and name; its own revisions are no dependents', (t) => {
  const infra1 = rev('infra-cm-v1', { realm: 'infra', package: 'cert-manager', revision: 'v1' });
  const needsInfra = rev('app-v1', { package: 'app', revision: 'v1', needs: [{ repository: 'catalog', realm: 'infra', package: 'cert-manager', revision: '*' }] });
  const needsOther = rev('other-v1', { package: 'other', revision: 'v1', needs: [{ repository: 'mirror', package: 'cert-manager', revision: '*' }, ...needsCM('*')] });
  // cm1 (no realm) is a different package from infra1: it satisfies neither the other one's dependents nor is satisfied by it
  t.deepEqual(dependencyBlockers(infra1, [cm1, infra1, needsInfra, needsOther]), ['PackageRevision app-v1 (needs catalog/infra/cert-manager *)']);
  t.deepEqual(dependencyBlockers(cm1, [cm1, infra1, needsInfra, needsOther]), ['PackageRevision other-v1 (needs catalog/cert-manager *)']);
  const selfDependent = rev('cm-v3', { package: 'cert-manager', revision: 'v3', needs: needsCM('v1') });
  t.deepEqual(dependencyBlockers(cm1, [cm1, selfDependent]), []);
});

test('every dependent is named, in the order listed', (t) => {
  const a = rev('a-v1', { package: 'a', revision: 'v1', needs: needsCM('^1') });
  const b = rev('b-v2', { package: 'b', revision: 'v2', needs: needsCM('v1') });
  const c = rev('c-v1', { package: 'c', revision: 'v1', needs: needsCM('v2') });
  t.deepEqual(dependencyBlockers(cm1, [b, cm1, c, a, cm2]), ['PackageRevision b-v2 (needs catalog/cert-manager v1)', 'PackageRevision a-v1 (needs catalog/cert-manager ^1)']);
});
