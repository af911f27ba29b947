// Three-way merge (kpt resource-merge semantics): table-driven cases modelled on kyaml merge3's tests
// (scalars, maps, lists, elements) and on kpt's update tests, plus whole packages.
import test from 'ava';
import { mergePackages, mergeResource } from '../../src/engine/merge3.ts';

const BOTH = 'changed upstream and locally to different values; the upstream value was taken';
const REMOVED_UPSTREAM = 'removed upstream but changed locally; the local value was kept';
const DELETED_LOCALLY = 'deleted locally but changed upstream; the upstream value was taken';
const RES_DELETED_UPSTREAM = 'deleted upstream but changed locally; the local resource was kept';
const RES_DELETED_LOCALLY = 'deleted locally but changed upstream; it stays deleted';
const FILE_BOTH = 'changed upstream and locally; the local file was kept';
const FILE_DELETED_UPSTREAM = 'deleted upstream but changed locally; the local file was kept';
const FILE_DELETED_LOCALLY = 'deleted locally but changed upstream; it stays deleted';
const FILE_ADDED_BOTH = 'added upstream and locally with different content; the local file was kept';

const H = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n';
const DEP = 'apps/Deployment//app';

interface Case {
  name: string;
  o: string;
  u: string;
  l: string;
  want: string;
  conflicts?: [field: string, message: string][];
}

function one(o: string, u: string, l: string) {
  const r = mergePackages(new Map([['r.yaml', o]]), new Map([['r.yaml', u]]), new Map([['r.yaml', l]]));
  return { text: r.files.get('r.yaml'), conflicts: r.conflicts };
}

function table(title: string, cases: Case[]) {
  for (const c of cases) {
    test(`${title}: ${c.name}`, (t) => {
      const r = one(H + c.o, H + c.u, H + c.l);
      t.is(r.text, H + c.want);
      t.deepEqual(r.conflicts, (c.conflicts ?? []).map(([field, message]) => ({ file: 'r.yaml', resource: DEP, field, message })));
    });
  }
}

table('scalar', [
  { name: 'changed upstream only: the upstream value', o: 'spec:\n  replicas: 1\n', u: 'spec:\n  replicas: 2\n', l: 'spec:\n  replicas: 1\n', want: 'spec:\n  replicas: 2\n' },
  { name: 'changed locally only: the local value', o: 'spec:\n  replicas: 1\n', u: 'spec:\n  replicas: 1\n', l: 'spec:\n  replicas: 5\n', want: 'spec:\n  replicas: 5\n' },
  { name: 'changed on both sides: upstream wins, reported', o: 'spec:\n  replicas: 1\n', u: 'spec:\n  replicas: 2\n', l: 'spec:\n  replicas: 5\n', want: 'spec:\n  replicas: 2\n', conflicts: [['spec.replicas', BOTH]] },
  { name: 'the same change on both sides: no conflict', o: 'spec:\n  replicas: 1\n', u: 'spec:\n  replicas: 3\n', l: 'spec:\n  replicas: 3 # three\n', want: 'spec:\n  replicas: 3 # three\n' },
  { name: 'added upstream: appended', o: 'spec:\n  replicas: 1\n', u: 'spec:\n  paused: true\n  replicas: 1\n', l: 'spec:\n  replicas: 1\n', want: 'spec:\n  replicas: 1\n  paused: true\n' },
  { name: 'added locally: kept', o: 'spec:\n  replicas: 1\n', u: 'spec:\n  replicas: 1\n', l: 'spec:\n  replicas: 1\n  paused: true\n', want: 'spec:\n  replicas: 1\n  paused: true\n' },
  { name: 'added on both sides with different values: upstream wins, reported', o: 'spec: {}\n', u: 'spec:\n  paused: true\n', l: 'spec:\n  paused: false\n', want: 'spec:\n  paused: true\n', conflicts: [['spec.paused', BOTH]] },
  { name: 'removed upstream, unchanged locally: removed', o: 'spec:\n  replicas: 1\n  paused: true\n', u: 'spec:\n  replicas: 1\n', l: 'spec:\n  replicas: 1\n  paused: true\n', want: 'spec:\n  replicas: 1\n' },
  { name: 'removed upstream, changed locally: kept, reported', o: 'spec:\n  replicas: 1\n  paused: true\n', u: 'spec:\n  replicas: 1\n', l: 'spec:\n  replicas: 1\n  paused: false\n', want: 'spec:\n  replicas: 1\n  paused: false\n', conflicts: [['spec.paused', REMOVED_UPSTREAM]] },
  { name: 'removed locally, unchanged upstream: stays removed', o: 'spec:\n  replicas: 1\n  paused: true\n', u: 'spec:\n  replicas: 1\n  paused: true\n', l: 'spec:\n  replicas: 1\n', want: 'spec:\n  replicas: 1\n' },
  { name: 'removed locally, changed upstream: the upstream value, reported', o: 'spec:\n  replicas: 1\n  paused: true\n', u: 'spec:\n  replicas: 1\n  paused: false\n', l: 'spec:\n  replicas: 1\n', want: 'spec:\n  replicas: 1\n  paused: false\n', conflicts: [['spec.paused', DELETED_LOCALLY]] },
  { name: 'an explicit null upstream clears the field', o: 'spec:\n  replicas: 1\n  paused: true\n', u: 'spec:\n  replicas: 1\n  paused: null\n', l: 'spec:\n  replicas: 1\n  paused: true\n', want: 'spec:\n  replicas: 1\n' },
  { name: 'the local quoting style is kept', o: 'spec:\n  image: "app:1"\n', u: 'spec:\n  image: app:2\n', l: "spec:\n  image: 'app:1'\n", want: "spec:\n  image: 'app:2'\n" },
  { name: 'an upstream comment comes with an upstream value', o: 'spec:\n  replicas: 1 # one\n', u: 'spec:\n  replicas: 2 # two\n', l: 'spec:\n  replicas: 1 # one\n', want: 'spec:\n  replicas: 2 # two\n' },
  { name: 'a local comment stays when the upstream value comes', o: 'spec:\n  replicas: 1 # one\n', u: 'spec:\n  replicas: 2 # two\n', l: '# head\nspec:\n  # the count\n  replicas: 1 # mine\n', want: '# head\nspec:\n  # the count\n  replicas: 2 # mine\n' },
]);

table('map', [
  { name: 'added upstream, missing locally', o: 'spec: {}\n', u: 'spec:\n  selector:\n    matchLabels:\n      app: x # the label\n', l: 'spec: {}\n', want: 'spec:\n  selector:\n    matchLabels:\n      app: x # the label\n' },
  {
    name: 'a key added upstream next to local keys',
    o: 'spec:\n  template:\n    metadata:\n      labels:\n        a: b\n',
    u: 'spec:\n  template:\n    metadata:\n      labels:\n        a: b\n        d: e # upstream\n',
    l: 'spec:\n  template:\n    metadata:\n      labels:\n        g: h # local\n',
    want: 'spec:\n  template:\n    metadata:\n      labels:\n        g: h # local\n        d: e # upstream\n',
  },
  {
    name: 'deleted locally, a key added upstream: only the new key (kyaml)',
    o: 'spec:\n  template:\n    metadata:\n      labels:\n        a: b\n',
    u: 'spec:\n  template:\n    metadata:\n      labels:\n        a: b\n        d: e\n',
    l: 'spec:\n  template:\n    metadata: {}\n',
    want: 'spec:\n  template:\n    metadata:\n      labels:\n        d: e\n',
  },
  {
    name: 'removed upstream, unchanged locally: removed',
    o: 'spec:\n  template:\n    metadata:\n      labels:\n        a: b\n    spec: {}\n',
    u: 'spec:\n  template:\n    spec: {}\n',
    l: 'spec:\n  template:\n    metadata:\n      labels:\n        a: b\n    spec: {}\n',
    want: 'spec:\n  template:\n    spec: {}\n',
  },
  {
    name: 'removed upstream, a key added locally: the local key stays',
    o: 'spec:\n  template:\n    metadata:\n      labels:\n        a: b\n',
    u: 'spec:\n  template: {}\n',
    l: 'spec:\n  template:\n    metadata:\n      labels:\n        a: b\n        foo: bar # keep this one\n',
    want: 'spec:\n  template:\n    metadata:\n      labels:\n        foo: bar # keep this one\n',
  },
  {
    name: 'key styles: each side keeps its own',
    o: 'data:\n  unchanged: origin\n  deleted-in-update: origin\n',
    u: "data:\n  unchanged: origin\n  'added-in-update': 'update'\n",
    l: 'data:\n  "unchanged": origin\n  deleted-in-update: origin\n  "added-in-local": "local"\n',
    want: 'data:\n  "unchanged": origin\n  "added-in-local": "local"\n  \'added-in-update\': \'update\'\n',
  },
]);

table('list without a merge key', [
  { name: 'changed upstream: replaced whole', o: 'spec:\n  args:\n  - a\n  - b\n', u: 'spec:\n  args:\n  - b\n  - c\n', l: 'spec:\n  args:\n  - a\n  - b\n', want: 'spec:\n  args:\n  - b\n  - c\n' },
  { name: 'changed locally: kept', o: 'spec:\n  args:\n  - a\n', u: 'spec:\n  args:\n  - a\n', l: 'spec:\n  args: # local comment\n  - x\n', want: 'spec:\n  args: # local comment\n  - x\n' },
  { name: 'changed on both sides: upstream wins, reported, local comment kept', o: 'spec:\n  args: # origin\n  - a\n', u: 'spec:\n  args: # updated\n  - b\n', l: 'spec:\n  args: # local\n  - c\n', want: 'spec:\n  args: # local\n  - b\n', conflicts: [['spec.args', BOTH]] },
  { name: 'the local flow style is kept', o: "spec:\n  command: ['run.sh']\n", u: 'spec:\n  command:\n  - run2.sh\n', l: "spec:\n  command: ['run.sh']\n", want: 'spec:\n  command: [run2.sh]\n' },
  {
    name: 'items without a name: atomic',
    o: 'spec:\n  tolerations:\n  - key: a\n    operator: Exists\n',
    u: 'spec:\n  tolerations:\n  - key: a\n    operator: Exists\n  - key: b\n    operator: Exists\n',
    l: 'spec:\n  tolerations:\n  - key: c\n    operator: Exists\n',
    want: 'spec:\n  tolerations:\n  - key: a\n    operator: Exists\n  - key: b\n    operator: Exists\n',
    conflicts: [['spec.tolerations', BOTH]],
  },
  { name: 'removed upstream, unchanged locally: removed', o: 'spec:\n  args:\n  - a\n  x: 1\n', u: 'spec:\n  x: 1\n', l: 'spec:\n  args:\n  - a\n  x: 1\n', want: 'spec:\n  x: 1\n' },
  { name: 'removed upstream, changed locally: kept, reported', o: 'spec:\n  args:\n  - a\n  x: 1\n', u: 'spec:\n  x: 1\n', l: 'spec:\n  args:\n  - b\n  x: 1\n', want: 'spec:\n  args:\n  - b\n  x: 1\n', conflicts: [['spec.args', REMOVED_UPSTREAM]] },
]);

const C = 'spec:\n  template:\n    spec:\n      containers:\n';
table('list with a merge key', [
  {
    name: 'a container added upstream: appended',
    o: C + '      - name: foo\n        image: foo:1\n',
    u: C + '      - name: foo\n        image: foo:1\n      - name: baz\n        image: baz:2\n',
    l: C + '      - name: foo\n        image: foo:1\n',
    want: C + '      - name: foo\n        image: foo:1\n      - name: baz\n        image: baz:2\n',
  },
  {
    name: 'a container added locally and one upstream: both, local first',
    o: 'spec: {}\n',
    u: C + '      - name: foo\n        image: foo:bar\n',
    l: C + '      - name: baz\n        image: baz:bar\n',
    want: C + '      - name: baz\n        image: baz:bar\n      - name: foo\n        image: foo:bar\n',
  },
  {
    name: 'containers matched by name whatever their order',
    o: C + '      - name: a\n        image: a:1\n      - name: b\n        image: b:1\n',
    u: C + '      - name: a\n        image: a:2\n      - name: b\n        image: b:1\n',
    l: C + '      - name: b # moved first\n        image: b:1\n        args: [x]\n      - name: a\n        image: a:1\n',
    want: C + '      - name: b # moved first\n        image: b:1\n        args: [x]\n      - name: a\n        image: a:2\n',
  },
  {
    name: 'a field of a container changed on both sides: reported by name',
    o: C + '      - name: a\n        image: a:1\n',
    u: C + '      - name: a\n        image: a:2\n',
    l: C + '      - name: a\n        image: a:3\n',
    want: C + '      - name: a\n        image: a:2\n',
    conflicts: [['spec.template.spec.containers[name=a].image', BOTH]],
  },
  {
    name: 'a container removed upstream, unchanged locally: removed',
    o: C + '      - name: foo\n        image: foo:bar\n      - name: baz\n        image: baz:bar\n',
    u: C + '      - name: foo\n        image: foo:bar\n',
    l: C + '      - name: foo\n        image: foo:bar\n        command: [run.sh]\n      - name: baz\n        image: baz:bar\n',
    want: C + '      - name: foo\n        image: foo:bar\n        command: [run.sh]\n',
  },
  {
    name: 'a container removed upstream, changed locally: kept, reported',
    o: C + '      - name: foo\n        image: foo:bar\n      - name: baz\n        image: baz:bar\n',
    u: C + '      - name: foo\n        image: foo:bar\n',
    l: C + '      - name: foo\n        image: foo:bar\n      - name: baz\n        image: baz:local\n',
    want: C + '      - name: foo\n        image: foo:bar\n      - name: baz\n        image: baz:local\n',
    conflicts: [['spec.template.spec.containers[name=baz]', REMOVED_UPSTREAM]],
  },
  {
    name: 'a container deleted locally, unchanged upstream: stays deleted',
    o: C + '      - name: foo\n        image: foo:1\n      - name: sidecar\n        image: s:1\n',
    u: C + '      - name: foo\n        image: foo:2\n      - name: sidecar\n        image: s:1\n',
    l: C + '      - name: foo\n        image: foo:1\n',
    want: C + '      - name: foo\n        image: foo:2\n',
  },
  {
    name: 'a container deleted locally, changed upstream: re-added whole, reported',
    o: C + '      - name: foo\n        image: foo:1\n      - name: sidecar\n        image: s:1\n',
    u: C + '      - name: foo\n        image: foo:1\n      - name: sidecar\n        image: s:2\n',
    l: C + '      - name: foo\n        image: foo:1\n',
    want: C + '      - name: foo\n        image: foo:1\n      - name: sidecar\n        image: s:2\n',
    conflicts: [['spec.template.spec.containers[name=sidecar]', DELETED_LOCALLY]],
  },
  {
    name: 'the whole list removed upstream: local additions stay',
    o: C + '      - name: foo\n        image: foo:1\n',
    u: 'spec:\n  template:\n    spec: {}\n',
    l: C + '      - name: foo\n        image: foo:1\n      - name: mine\n        image: mine:1\n',
    want: C + '      - name: mine\n        image: mine:1\n',
  },
  {
    name: 'env by name',
    o: C + '      - name: a\n        env:\n        - name: X\n          value: "1"\n        - name: Y\n          value: "1"\n',
    u: C + '      - name: a\n        env:\n        - name: X\n          value: "2"\n        - name: Y\n          value: "1"\n',
    l: C + '      - name: a\n        env:\n        - name: Z\n          value: "9"\n        - name: X\n          value: "1"\n        - name: Y\n          value: "5"\n',
    want: C + '      - name: a\n        env:\n        - name: Z\n          value: "9"\n        - name: X\n          value: "2"\n        - name: Y\n          value: "5"\n',
  },
  {
    name: 'ports by containerPort: a port added upstream',
    o: C + '      - name: a\n        ports:\n        - containerPort: 8080\n',
    u: C + '      - name: a\n        ports:\n        - containerPort: 8080\n        - containerPort: 80\n',
    l: C + '      - name: a\n        ports:\n        - containerPort: 8080\n          name: http # local\n',
    want: C + '      - name: a\n        ports:\n        - containerPort: 8080\n          name: http # local\n        - containerPort: 80\n',
  },
  {
    name: 'ports by containerPort and protocol (kyaml "Retain local protocol")',
    o: C + '      - name: a\n        ports:\n        - containerPort: 8080\n          protocol: UDP\n',
    u: C + '      - name: a\n        ports:\n        - containerPort: 8080\n          protocol: TCP\n',
    l: C + '      - name: a\n        ports:\n        - containerPort: 8080\n          protocol: SCTP\n',
    want: C + '      - name: a\n        ports:\n        - containerPort: 8080\n          protocol: SCTP\n        - containerPort: 8080\n          protocol: TCP\n',
  },
  {
    name: 'ports: a missing protocol is TCP',
    o: C + '      - name: a\n        ports:\n        - containerPort: 80\n',
    u: C + '      - name: a\n        ports:\n        - containerPort: 80\n          protocol: TCP\n          name: web\n',
    l: C + '      - name: a\n        ports:\n        - containerPort: 80\n',
    want: C + '      - name: a\n        ports:\n        - containerPort: 80\n          protocol: TCP\n          name: web\n',
  },
  {
    name: 'volumeMounts by mountPath',
    o: C + '      - name: a\n        volumeMounts:\n        - mountPath: /data\n          name: d\n',
    u: C + '      - name: a\n        volumeMounts:\n        - mountPath: /data\n          name: d\n          readOnly: true\n',
    l: C + '      - name: a\n        volumeMounts:\n        - mountPath: /cache\n          name: c\n        - mountPath: /data\n          name: d\n',
    want: C + '      - name: a\n        volumeMounts:\n        - mountPath: /cache\n          name: c\n        - mountPath: /data\n          name: d\n          readOnly: true\n',
  },
  {
    name: 'items that all have a name are merged by it, whatever the field (kyaml infers name)',
    o: 'spec:\n  things:\n  - name: a\n    v: 1\n',
    u: 'spec:\n  things:\n  - name: a\n    v: 2\n',
    l: 'spec:\n  things:\n  - name: b\n    v: 1\n  - name: a\n    v: 1\n',
    want: 'spec:\n  things:\n  - name: b\n    v: 1\n  - name: a\n    v: 2\n',
  },
]);

test('finalizers are merged as a set', (t) => {
  const m = (f: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  finalizers:\n${f}`;
  const r = one(m('  - a\n  - b\n'), m('  - a\n  - c\n'), m('  - b\n  - a\n  - mine\n'));
  t.is(r.text, m('  - a\n  - mine\n  - c\n'));
  t.deepEqual(r.conflicts, []);
});

test('comments and layout of the local document survive a merge', (t) => {
  const o = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: "1"\n  b: "2"\n';
  const u = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: "1"\n  b: "3"\n';
  const l = '# Settings of the app.\napiVersion: v1\nkind: ConfigMap\nmetadata: # kpt-merge: /c\n    name: c\n\n# the data\ndata:\n    a: "10"   # raised for team-a\n    # b comes from upstream\n    b: "2"\n    list:\n        - x\n';
  const r = one(o, u, l);
  t.is(r.text, '# Settings of the app.\napiVersion: v1\nkind: ConfigMap\nmetadata: # kpt-merge: /c\n    name: c\n\n# the data\ndata:\n    a: "10" # raised for team-a\n    # b comes from upstream\n    b: "3"\n    list:\n        - x\n');
  t.deepEqual(r.conflicts, []);
});

test('an unchanged file is returned byte for byte, odd layout and all', (t) => {
  const o = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: {a: "1"}\n';
  const l = 'apiVersion:   v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: { a: "1", b: "x" }   # local\n';
  const r = mergePackages(new Map([['c.yaml', o]]), new Map([['c.yaml', o]]), new Map([['c.yaml', l]]));
  t.is(r.files.get('c.yaml'), l);
  const r2 = one(o, o.replace('"1"', '"2"'), l);
  t.is(r2.text, 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\ndata: { a: "2", b: "x" } # local\n');
});

test('multi-document files: only the changed document is rewritten, documents added upstream are appended', (t) => {
  const a = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: "1"\n';
  const b = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  k: "1"\n';
  const n = '# new upstream\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n  - port: 80\n';
  const o = `${a}---\n${b}`;
  const u = `${a.replace('"1"', '"2"')}---\n${b}---\n${n}`;
  const l = `# local header\n${a}---\n# b, untouched\n${b.replace('k: "1"', 'k:   "1"   # spaced')}`;
  const r = mergePackages(new Map([['all.yaml', o]]), new Map([['all.yaml', u]]), new Map([['all.yaml', l]]));
  t.is(r.files.get('all.yaml'), `# local header\n${a.replace('"1"', '"2"')}---\n# b, untouched\n${b.replace('k: "1"', 'k:   "1"   # spaced')}---\n${n}`);
  t.deepEqual(r.conflicts, []);
});

test('resources: added, deleted, moved and renamed across files', (t) => {
  const cm = (name: string, v: string, ns = '') => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${ns}data:\n  v: "${v}"\n`;
  const original = new Map([
    ['keep.yaml', cm('keep', '1')],
    ['gone.yaml', cm('gone', '1')],
    ['gone-changed.yaml', cm('gone-changed', '1')],
    ['deleted-locally.yaml', cm('deleted-locally', '1')],
    ['deleted-locally-changed.yaml', cm('deleted-locally-changed', '1')],
    ['moved.yaml', cm('moved', '1')],
    ['renamed.yaml', cm('renamed', '1')],
  ]);
  const updated = new Map([
    ['keep.yaml', `${cm('keep', '1')}---\n${cm('next-to-keep', '1')}`],
    ['deleted-locally.yaml', cm('deleted-locally', '1')],
    ['deleted-locally-changed.yaml', cm('deleted-locally-changed', '2')],
    ['elsewhere/moved.yaml', cm('moved', '2')],
    ['renamed.yaml', cm('renamed', '2')],
    ['new.yaml', '# a new file\n' + cm('new', '1')],
  ]);
  const local = new Map([
    ['keep.yaml', cm('keep', '1')],
    ['gone.yaml', cm('gone', '1')],
    ['gone-changed.yaml', cm('gone-changed', '9')],
    ['moved.yaml', cm('moved', '1')],
    ['renamed.yaml', cm('renamed-locally', '1').replace('metadata:', 'metadata: # kpt-merge: /renamed')],
    ['mine.yaml', cm('mine', '1')],
  ]);
  const r = mergePackages(original, updated, local);
  t.deepEqual([...r.files.keys()], ['gone-changed.yaml', 'keep.yaml', 'mine.yaml', 'moved.yaml', 'new.yaml', 'renamed.yaml']);
  t.is(r.files.get('keep.yaml'), `${cm('keep', '1')}---\n${cm('next-to-keep', '1')}`);
  t.is(r.files.get('gone-changed.yaml'), cm('gone-changed', '9'));
  t.is(r.files.get('mine.yaml'), cm('mine', '1'));
  t.is(r.files.get('moved.yaml'), cm('moved', '2'));
  t.is(r.files.get('new.yaml'), '# a new file\n' + cm('new', '1'));
  t.is(r.files.get('renamed.yaml'), cm('renamed-locally', '2').replace('metadata:', 'metadata: # kpt-merge: /renamed'));
  t.deepEqual(r.conflicts, [
    { file: 'deleted-locally-changed.yaml', resource: '/ConfigMap//deleted-locally-changed', field: '', message: RES_DELETED_LOCALLY },
    { file: 'gone-changed.yaml', resource: '/ConfigMap//gone-changed', field: '', message: RES_DELETED_UPSTREAM },
  ]);
});

test('resources added upstream into a file that the local package also has a document of', (t) => {
  const a = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n';
  const b = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n';
  const r = mergePackages(new Map(), new Map([['x.yaml', `${a}---\n${b}`]]), new Map([['x.yaml', a]]));
  t.is(r.files.get('x.yaml'), `${a}---\n${b}`);
  t.deepEqual(r.conflicts, []);
  const r2 = mergePackages(new Map(), new Map([['x.yaml', b]]), new Map([['x.yaml', a.slice(0, -1)]]));
  t.is(r2.files.get('x.yaml'), `${a}---\n${b}`);
});

test('a document deleted upstream leaves the rest of a multi-document file alone', (t) => {
  const a = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n';
  const b = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b # local comment\n';
  const r = mergePackages(new Map([['x.yaml', `${a}---\n${b}`]]), new Map([['x.yaml', b]]), new Map([['x.yaml', `${a}---\n${b}`]]));
  t.is(r.files.get('x.yaml'), `---\n${b}`);
});

test('non-KRM files are merged whole', (t) => {
  const original = new Map([
    ['README.md', 'readme v1\n'], ['same.txt', 's\n'], ['up.txt', 'u1\n'], ['local.txt', 'l1\n'], ['both.txt', 'b1\n'],
    ['del-up.txt', 'd\n'], ['del-up-changed.txt', 'd\n'], ['del-local.txt', 'x\n'], ['del-local-changed.txt', 'x\n'],
    ['notes.yaml', 'just: data\n'],
  ]);
  const updated = new Map([
    ['README.md', 'readme v2\n'], ['same.txt', 's\n'], ['up.txt', 'u2\n'], ['local.txt', 'l1\n'], ['both.txt', 'b2\n'],
    ['del-local.txt', 'x\n'], ['del-local-changed.txt', 'x2\n'], ['added-both.txt', 'up\n'], ['added-both-same.txt', 'same\n'],
    ['added-up.txt', 'new\n'], ['notes.yaml', 'just: data2\n'],
  ]);
  const local = new Map([
    ['README.md', 'readme v1\n'], ['same.txt', 's\n'], ['up.txt', 'u1\n'], ['local.txt', 'l2\n'], ['both.txt', 'b3\n'],
    ['del-up.txt', 'd\n'], ['del-up-changed.txt', 'd2\n'], ['added-both.txt', 'local\n'], ['added-both-same.txt', 'same\n'],
    ['notes.yaml', 'just: data\n'],
  ]);
  const r = mergePackages(original, updated, local);
  t.deepEqual(Object.fromEntries(r.files), {
    'README.md': 'readme v2\n', 'added-both-same.txt': 'same\n', 'added-both.txt': 'local\n', 'added-up.txt': 'new\n', 'both.txt': 'b3\n',
    'del-up-changed.txt': 'd2\n', 'local.txt': 'l2\n', 'notes.yaml': 'just: data2\n', 'same.txt': 's\n', 'up.txt': 'u2\n',
  });
  t.deepEqual(r.conflicts, [
    { file: 'added-both.txt', resource: '', field: '', message: FILE_ADDED_BOTH },
    { file: 'both.txt', resource: '', field: '', message: FILE_BOTH },
    { file: 'del-local-changed.txt', resource: '', field: '', message: FILE_DELETED_LOCALLY },
    { file: 'del-up-changed.txt', resource: '', field: '', message: FILE_DELETED_UPSTREAM },
  ]);
});

test('skipFiles: skipped files keep their local text and take no part', (t) => {
  const cm = (v: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ctx\ndata:\n  v: "${v}"\n`;
  const r = mergePackages(
    new Map([['package-context.yaml', cm('1')]]), new Map([['package-context.yaml', cm('2')], ['other.yaml', cm('3')]]),
    new Map([['package-context.yaml', cm('local')]]), { skipFiles: (p) => p === 'package-context.yaml' || p === 'other.yaml' });
  t.deepEqual(Object.fromEntries(r.files), { 'package-context.yaml': cm('local') });
  t.deepEqual(r.conflicts, []);
});

test('duplicate identities are matched by file and position', (t) => {
  const p = (v: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: same\ndata:\n  v: "${v}"\n`;
  const r = mergePackages(
    new Map([['a/p.yaml', p('a1')], ['b/p.yaml', p('b1')]]), new Map([['a/p.yaml', p('a2')], ['b/p.yaml', p('b1')]]),
    new Map([['a/p.yaml', p('a1')], ['b/p.yaml', p('b-local')]]));
  t.deepEqual(Object.fromEntries(r.files), { 'a/p.yaml': p('a2'), 'b/p.yaml': p('b-local') });
  t.deepEqual(r.conflicts, []);
});

const KF = (name: string, extra: string) => `apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: ${name}\n${extra}`;

test('the Kptfile is matched by path; name, upstream and upstreamLock stay local; functions without names match by image', (t) => {
  const o = KF('up', 'info:\n  description: v1\npipeline:\n  mutators:\n  - image: gcr.io/kpt-fn/set-labels:v0.1\n    configMap:\n      app: x\n');
  const u = KF('up', 'info:\n  description: v2\npipeline:\n  mutators:\n  - image: gcr.io/kpt-fn/set-labels:v0.2\n    configMap:\n      app: x\n  - image: gcr.io/kpt-fn/apply-setters:v0.2\n');
  const l = KF('down', 'upstream:\n  type: git\n  git:\n    ref: v1\nupstreamLock:\n  type: git\n  git:\n    commit: abc\ninfo:\n  description: v1\npipeline:\n  mutators:\n  - image: gcr.io/kpt-fn/set-labels:v0.1\n    configMap:\n      app: x\n      team: a # local\n');
  const r = mergePackages(new Map([['Kptfile', o]]), new Map([['Kptfile', u]]), new Map([['Kptfile', l]]));
  t.is(r.files.get('Kptfile'), KF('down', 'upstream:\n  type: git\n  git:\n    ref: v1\nupstreamLock:\n  type: git\n  git:\n    commit: abc\ninfo:\n  description: v2\npipeline:\n  mutators:\n  - image: gcr.io/kpt-fn/set-labels:v0.2\n    configMap:\n      app: x\n      team: a # local\n  - image: gcr.io/kpt-fn/apply-setters:v0.2\n'));
  t.deepEqual(r.conflicts, []);
});

const DEPLOY = (replicas: number, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team-a
spec:
  replicas: ${replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: ${image}
        ports:
        - containerPort: 8080
`;
const CM = (greeting: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\n  namespace: team-a\ndata:\n  greeting: ${greeting}\n`;

test('package: a local edit (replicas) survives and the upstream change (image) arrives', (t) => {
  const original = new Map([['Kptfile', KF('web', 'info:\n  description: web app\n')], ['deployment.yaml', DEPLOY(1, 'web:1.0')], ['configmap.yaml', CM('hello')]]);
  const updated = new Map([['Kptfile', KF('web', 'info:\n  description: web app\n')], ['deployment.yaml', DEPLOY(1, 'web:2.0')], ['configmap.yaml', CM('hello')]]);
  const localDeploy = DEPLOY(3, 'web:1.0').replace('  replicas: 3', '  replicas: 3 # sized for team-a');
  const local = new Map([
    ['Kptfile', KF('web-team-a', 'upstream:\n  type: git\ninfo:\n  description: web app\n')],
    ['deployment.yaml', localDeploy],
    ['configmap.yaml', CM('hello team-a')],
  ]);
  const r = mergePackages(original, updated, local);
  t.deepEqual(Object.fromEntries(r.files), {
    Kptfile: local.get('Kptfile'),
    'configmap.yaml': CM('hello team-a'),
    'deployment.yaml': localDeploy.replace('web:1.0', 'web:2.0'),
  });
  t.deepEqual(r.conflicts, []);
});

test('package: a field changed on both sides is reported with file, resource and field', (t) => {
  const original = new Map([['deployment.yaml', DEPLOY(1, 'web:1.0')]]);
  const updated = new Map([['deployment.yaml', DEPLOY(2, 'web:2.0')]]);
  const local = new Map([['deployment.yaml', DEPLOY(3, 'web:1.1')]]);
  const r = mergePackages(original, updated, local);
  t.is(r.files.get('deployment.yaml'), DEPLOY(2, 'web:2.0'));
  t.deepEqual(r.conflicts, [
    { file: 'deployment.yaml', resource: 'apps/Deployment/team-a/web', field: 'spec.replicas', message: BOTH },
    { file: 'deployment.yaml', resource: 'apps/Deployment/team-a/web', field: 'spec.template.spec.containers[name=web].image', message: BOTH },
  ]);
});

test('conflict paths quote keys that hold dots', (t) => {
  const r = mergeResource(
    { metadata: { annotations: { 'example.com/a': 'x' } } },
    { metadata: { annotations: { 'example.com/a': 'y' } } },
    { metadata: { annotations: { 'example.com/a': 'z' } } });
  t.deepEqual(r, { value: { metadata: { annotations: { 'example.com/a': 'y' } } }, conflicts: [{ field: 'metadata.annotations["example.com/a"]', message: BOTH }] });
});

test('mergeResource: JS values and absent sides', (t) => {
  t.deepEqual(mergeResource({ a: 1, b: { c: 1 } }, { a: 2, b: { c: 2 } }, { a: 3, b: { c: 1, d: 1 } }),
    { value: { a: 2, b: { c: 2, d: 1 } }, conflicts: [{ field: 'a', message: BOTH }] });
  t.deepEqual(mergeResource(undefined, { a: 1 }, undefined), { value: { a: 1 }, conflicts: [] });
  t.deepEqual(mergeResource(undefined, undefined, { a: 1 }), { value: { a: 1 }, conflicts: [] });
  t.deepEqual(mergeResource({ a: 1 }, undefined, { a: 1 }), { value: undefined, conflicts: [] });
  t.deepEqual(mergeResource({ a: 1 }, undefined, { a: 2 }), { value: { a: 2 }, conflicts: [{ field: '', message: RES_DELETED_UPSTREAM }] });
  t.deepEqual(mergeResource({ a: 1 }, { a: 1 }, undefined), { value: undefined, conflicts: [] });
  t.deepEqual(mergeResource({ a: 1 }, { a: 2 }, undefined), { value: undefined, conflicts: [{ field: '', message: RES_DELETED_LOCALLY }] });
  t.deepEqual(mergeResource(undefined, { a: 1, b: 2 }, { a: 1, b: 3 }), { value: { a: 1, b: 2 }, conflicts: [{ field: 'b', message: BOTH }] });
});

test('Service ports are matched by port and protocol', (t) => {
  const svc = (ports: unknown[]) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports } });
  const r = mergeResource(
    svc([{ port: 80, targetPort: 8080 }, { port: 53, protocol: 'UDP' }]),
    svc([{ port: 80, targetPort: 9090 }, { port: 53, protocol: 'UDP', name: 'dns' }]),
    svc([{ port: 443, name: 'tls' }, { port: 80, protocol: 'TCP', targetPort: 8080 }]));
  t.deepEqual(r, {
    value: svc([{ port: 443, name: 'tls' }, { port: 80, protocol: 'TCP', targetPort: 9090 }, { port: 53, protocol: 'UDP', name: 'dns' }]),
    conflicts: [{ field: 'spec.ports[port=53,protocol=UDP]', message: DELETED_LOCALLY }],
  });
});

test('aliases in an upstream value are resolved when it is copied into the local document', (t) => {
  const o = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: x\n';
  const u = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: &l\n    app: x\n  annotations: *l\ndata:\n  a: x\n';
  t.is(one(o, u, o).text, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: &l\n    app: x\n  annotations:\n    app: x\ndata:\n  a: x\n');
});

test('an alias whose anchored node the upstream removed becomes a copy of it; an alias whose anchor stays is kept', (t) => {
  const crd = (versions: string) => `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  versions:\n${versions}`;
  const beta = '  - name: v1beta1\n    schema: &s\n      type: object\n      x-kubernetes-preserve-unknown-fields: true\n';
  const v1 = '  - name: v1\n    schema: *s\n';
  const original = crd(beta + v1);
  // upstream drops v1beta1, the item holding the anchor; the local package is the original
  const r = mergePackages(new Map([['crd.yaml', original]]), new Map([['crd.yaml', crd('  - name: v1\n    schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n')]]), new Map([['crd.yaml', original]]));
  t.deepEqual(r.conflicts, []);
  const out = r.files.get('crd.yaml')!;
  t.notRegex(out, /\*s|&s/);
  t.regex(out, /- name: v1\n\s+schema:\n\s+type: object\n\s+x-kubernetes-preserve-unknown-fields: true\n/);
  t.notRegex(out, /v1beta1/);
  // an upstream change elsewhere: the anchor and its alias stay as they were
  const kept = mergePackages(new Map([['crd.yaml', original]]), new Map([['crd.yaml', original.replace('name: widgets.example.com', 'name: widgets.example.com\n  labels: {a: b}')]]), new Map([['crd.yaml', original]]));
  t.regex(kept.files.get('crd.yaml')!, /schema: &s\n/);
  t.regex(kept.files.get('crd.yaml')!, /schema: \*s\n/);
});

test('a local alias into a list item the upstream removed still merges field by field (the upgrade of a CRD whose versions share a schema)', (t) => {
  const crd = (versions: string) => `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  versions:\n${versions}`;
  const original = crd('  - name: v1beta1\n    schema:\n      openAPIV3Schema: &a1\n        type: object\n        properties:\n          size: {type: integer}\n  - name: v1\n    schema:\n      openAPIV3Schema: *a1\n');
  const updated = crd('  - name: v1\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          size: {type: string}\n');
  const r = mergePackages(new Map([['crd.yaml', original]]), new Map([['crd.yaml', updated]]), new Map([['crd.yaml', original]]));
  t.deepEqual(r.conflicts, []);
  const out = r.files.get('crd.yaml')!;
  t.notRegex(out, /v1beta1|\*a1|&a1/);
  t.regex(out, /- name: v1\n\s+schema:\n\s+openAPIV3Schema:\n\s+type: object\n\s+properties:\n\s+size: \{ ?type: string ?\}\n/);
});
