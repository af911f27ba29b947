// Package content rules: path rules, package limits, YAML validation (aliases resolved and bounded),
// the managed files, the PRR content condition.
import test from 'ava';
import { contentCondition } from '../../src/apiserver/registry/packagerevisionresources.ts';
import { DEFAULT_LIMITS, kustomization, packageContext, packageProblems, pathProblem, quote, validateFiles, withManagedFiles, yamlProblem } from '../../src/engine/content.ts';
import { Layout } from '../../src/storage/git/layout.ts';

const KPT = 'apiVersion: kpt.dev/v1\nkind: Kptfile\n';
/** The cause of a refused path, `shown` escaped as in the message */
const invalidPath = (shown: string, why: string) => ({ type: 'FieldValueInvalid', field: `spec.resources[${shown}]`, message: `Invalid value: "${shown}": ${why}` });

test('paths: relative, no "..", ".", empty segment, NUL or backslash', (t) => {
  t.is(pathProblem(''), 'a file path may not be empty');
  t.is(pathProblem('/abs.yaml'), 'a file path must be relative');
  for (const bad of ['a/../b.yaml', './a.yaml', '..']) t.is(pathProblem(bad), 'a file path may not contain "." or ".." segments', bad);
  for (const bad of ['a//b.yaml', 'a/']) t.is(pathProblem(bad), 'a file path may not have an empty segment (leading, trailing or double "/")', bad);
  t.is(pathProblem('a\0b'), 'a file path may not contain control characters (such as newline, tab or NUL)');
  t.is(pathProblem('a\\b'), 'a file path may not contain "\\"');
  for (const good of ['Kptfile', 'a/b/c.yaml', '.hidden.yaml', 'README.md', 'é.yaml', 'a b/c d.yaml', '日本/設定.yaml', 'refs/heads/main']) t.is(pathProblem(good), undefined, good);
});

test('paths: printable, no control or invisible format characters', (t) => {
  const control = 'a file path may not contain control characters (such as newline, tab or NUL)';
  const invisible = 'a file path may not contain invisible formatting characters (such as bidirectional text controls, zero-width characters or line separators)';
  for (const bad of ['a\nb.yaml', 'a\rb', 'tab\t.yaml', '\x7f.yaml', 'a\u0085b']) t.is(pathProblem(bad), control, JSON.stringify(bad));
  for (const cp of [0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200b, 0x200d, 0xfeff, 0x00ad, 0x061c, 0x2028, 0x2029, 0xe0041])
    t.is(pathProblem(`x${String.fromCodePoint(cp)}y.yaml`), invisible, cp.toString(16));
  t.is(pathProblem('a\ud800b'), 'a file path must be well-formed Unicode (no lone surrogates)');
});

test('paths: NFC only', (t) => {
  const decomposed = 'cafe\u0301.yaml';
  t.is(pathProblem(decomposed), 'a file path must be in Unicode normalization form C (NFC)');
  t.is(pathProblem(decomposed.normalize('NFC')), undefined);
});

test('paths: no segment starts or ends with whitespace', (t) => {
  for (const bad of [' ', ' a.yaml', 'a.yaml ', 'dir /a.yaml', 'a/ b.yaml', 'a\u00a0', '\u3000x']) t.is(pathProblem(bad), 'a segment of a file path may not start or end with whitespace', JSON.stringify(bad));
});

test('paths: at most 255 bytes a segment and 1024 bytes in all', (t) => {
  t.is(pathProblem('x'.repeat(255)), undefined);
  t.is(pathProblem('x'.repeat(256)), 'a segment of a file path may not be more than 255 bytes (one has 256)');
  t.is(pathProblem(`a/${'é'.repeat(128)}`), 'a segment of a file path may not be more than 255 bytes (one has 256)', 'counted in UTF-8 bytes');
  const deep = Array.from({ length: 8 }, () => 'd'.repeat(127)).join('/'); // 1023 bytes
  t.is(pathProblem(deep), undefined);
  t.is(pathProblem(`${deep}x`), undefined, '1024 bytes');
  t.is(pathProblem(`${deep}/x`), 'a file path may not be more than 1024 bytes (this one has 1025)');
  t.is(pathProblem('x'.repeat(5000)), 'a file path may not be more than 1024 bytes (this one has 5000)');
});

test('paths: no segment starting with .git, at any level and in any case', (t) => {
  const why = 'a segment of a file path may not start with ".git": git gives such names (.git, .gitmodules, .gitattributes, .gitignore) a meaning of their own';
  for (const bad of ['.git', '.git/config', 'x/.GIT/y', '.gitmodules', 'sub/.gitattributes', '.gitignore', '.GitAttributes', 'a/.gitkeep', '.git.']) t.is(pathProblem(bad), why, bad);
  t.is(pathProblem('x.git/y'), undefined);
  t.is(pathProblem('git/.hidden'), undefined);
});

test('validateFiles: each bad path is one cause on spec.resources[<path>], escaped as kube quotes values', (t) => {
  t.deepEqual(validateFiles({ Kptfile: KPT, 'a\nb.yaml': 'x: 1\n', 'evil\u202eyaml.txt': '', ' ': '' }), [
    invalidPath('a\\nb.yaml', 'a file path may not contain control characters (such as newline, tab or NUL)'),
    invalidPath('evil\\u202eyaml.txt', 'a file path may not contain invisible formatting characters (such as bidirectional text controls, zero-width characters or line separators)'),
    invalidPath(' ', 'a segment of a file path may not start or end with whitespace'),
  ]);
  const long = validateFiles({ ['x'.repeat(5000)]: '' });
  t.deepEqual(long, [invalidPath(`${'x'.repeat(128)}...`, 'a file path may not be more than 1024 bytes (this one has 5000)')], 'a long path is shown cut');
  t.is(quote('a"\\\x01\u00e9\u00a0\u{1f600}\u{e0041}'), '"a\\"\\\\\\x01é\\u00a0😀\\U000e0041"', "Go's %q");
});

test('validateFiles: a path that is a file and a directory is one cause naming both', (t) => {
  t.deepEqual(validateFiles({ Kptfile: KPT, 'Kptfile/x': 'a' }), [invalidPath('Kptfile/x', '"Kptfile" is a file, so it cannot also be the directory of "Kptfile/x"')]);
  t.deepEqual(validateFiles({ Kptfile: KPT, 'a/b/c.yaml': 'x: 1\n', 'a/b': 'y' }), [invalidPath('a/b/c.yaml', '"a/b" is a file, so it cannot also be the directory of "a/b/c.yaml"')]);
  t.deepEqual(validateFiles({ Kptfile: KPT, 'a/b.yaml': 'x: 1\n', 'ab/c.yaml': 'y: 1\n', a: '' }).map((e) => e.field), ['spec.resources[a/b.yaml]'], 'only a real prefix directory clashes');
});

test('package limits: files, bytes per file, bytes in all', (t) => {
  const limits = { ...DEFAULT_LIMITS, maxFiles: 3, maxFileBytes: 10, maxTotalBytes: 25 };
  t.deepEqual(DEFAULT_LIMITS, { maxFiles: 1000, maxFileBytes: 1048576, maxTotalBytes: 8388608, maxPathBytes: 1024, maxSegmentBytes: 255 });
  t.deepEqual(packageProblems(new Map<string, string | Buffer>([['a', 'x'.repeat(10)], ['b', Buffer.alloc(10)]]), limits), []);
  t.deepEqual(packageProblems(new Map([['a', 'x'], ['b', 'x'], ['c', 'x'], ['d', 'x']]), limits), [{ type: 'FieldValueTooMany', field: 'spec.resources', message: 'Too many: 4: must have at most 3 items' }]);
  t.deepEqual(packageProblems(new Map([['a', 'é'.repeat(6)]]), limits), [{ type: 'FieldValueTooLong', field: 'spec.resources[a]', message: 'Too long: may not be more than 10 bytes' }], 'UTF-8 bytes');
  t.deepEqual(packageProblems(new Map([['a', Buffer.alloc(9)], ['b', Buffer.alloc(9)], ['c', Buffer.alloc(9)]]), limits), [{ type: 'FieldValueTooLong', field: 'spec.resources', message: 'Too long: may not be more than 25 bytes' }]);
  t.deepEqual(packageProblems(new Map([['x'.repeat(300), '']])), [invalidPath(`${'x'.repeat(128)}...`, 'a segment of a file path may not be more than 255 bytes (one has 300)')], 'path length is a package limit too');
  t.deepEqual(packageProblems(new Map([['Kptfile', ''], ['Kptfile/x', '']])).map((e) => e.message), ['Invalid value: "Kptfile/x": "Kptfile" is a file, so it cannot also be the directory of "Kptfile/x"']);
  t.deepEqual(validateFiles({ Kptfile: 'k: 1\n', a: 'x'.repeat(11) }, limits), [{ type: 'FieldValueTooLong', field: 'spec.resources[a]', message: 'Too long: may not be more than 10 bytes' }], 'validateFiles checks the limits too');
});

test('broken YAML is one cause naming its file, line and column', (t) => {
  const errs = validateFiles({ Kptfile: KPT, 'deploy.yaml': 'a: 1\nb: [1,\nc: 2\n' });
  t.deepEqual(errs, [invalidPath('deploy.yaml', 'YAML does not parse at line 3, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]')]);
  t.deepEqual(validateFiles({ 'README.md': 'b: [1,' }), [], 'only YAML files are parsed');
  t.deepEqual(validateFiles({ Kptfile: 'a: b: c\n' }).map((e) => e.message), ['Invalid value: "Kptfile": YAML does not parse at line 1, column 4: Nested mappings are not allowed in compact mappings'], 'the Kptfile is YAML');
  t.is(yamlProblem('a: [\nb: {\nc: d: e\n---\nx: ]\n', 1 << 20)?.split('YAML does not parse').length, 2, 'once per file, not once per error');
  t.is(yamlProblem('a: 1\n---\nb: 2\n---\nc: d: e\n', 1 << 20), 'YAML does not parse at line 5, column 4: Nested mappings are not allowed in compact mappings', 'any document');
});

test('YAML: a duplicate key is refused', (t) => {
  t.is(yamlProblem('a: 1\nb: 2\na: 3\n', 1 << 20), 'YAML does not parse at line 3, column 1: Map keys must be unique');
});

test('YAML: every alias must resolve, to an anchor before it in the same document and not around it', (t) => {
  t.is(yamlProblem('a: *nope\n', 1 << 20), 'YAML does not parse at line 1, column 4: unresolved alias *nope (no anchor &nope before it)');
  t.is(yamlProblem('a: *x\nb: &x 1\n', 1 << 20), 'YAML does not parse at line 1, column 4: unresolved alias *x (no anchor &x before it)', 'an anchor after the alias');
  t.is(yamlProblem('a: &x 1\n---\nb: *x\n', 1 << 20), 'YAML does not parse at line 3, column 4: unresolved alias *x (no anchor &x before it)', 'an anchor of another document');
  t.is(yamlProblem('a: &x [1, *x]\n', 1 << 20), 'YAML does not parse at line 1, column 11: alias *x is inside its own anchor (a recursive structure)');
  t.is(yamlProblem('a: &x\n  b:\n    c: *x\n', 1 << 20), 'YAML does not parse at line 3, column 8: alias *x is inside its own anchor (a recursive structure)');
  t.is(yamlProblem('a: &x {p: 1}\nb: *x\nc: &x 2\nd: *x\n*x : e\n', 1 << 20), undefined, 'resolved, a redefined anchor, an alias as a key');
  t.deepEqual(validateFiles({ Kptfile: KPT, 'a.yaml': 'a: *nope\nb: *nope2\n' }), [invalidPath('a.yaml', 'YAML does not parse at line 1, column 4: unresolved alias *nope (no anchor &nope before it)')]);
});

test('YAML: aliases may not expand a file beyond the size of a file', (t) => {
  // the anchor's text replaces each alias: 10 bytes of anchor × 3 aliases
  const doc = 'a: &x "0123456789"\nb: *x\nc: *x\nd: *x\n';
  const expanded = Buffer.byteLength(doc) + 3 * ('"0123456789"'.length - 2);
  t.is(yamlProblem(doc, expanded), undefined);
  t.is(yamlProblem(doc, expanded - 1), `YAML aliases (the first at line 2, column 4) expand the file to ${expanded} bytes: may not be more than ${expanded - 1} bytes`);
  // a 900 KB anchor referenced 99 times (under the yaml package's count of 100)
  const amp = `a: &a "${'x'.repeat(900_000)}"\n${Array.from({ length: 99 }, (_, i) => `k${i}: *a`).join('\n')}\n`;
  t.regex(yamlProblem(amp, 1 << 20)!, /^YAML aliases \(the first at line 2, column 5\) expand the file to 90000\d{3} bytes: may not be more than 1048576 bytes$/);
  // a billion laughs: nine levels of nine aliases, each counted once
  let lol = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
  for (let i = 1; i < 9; i++) lol += `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]\n`;
  t.regex(yamlProblem(lol, 1 << 20)!, /^YAML aliases \(the first at line 2, column 8\) expand the file to \d{10} bytes: may not be more than 1048576 bytes$/);
  // non-ASCII text counts its UTF-8 bytes
  t.is(yamlProblem('a: &x "éé"\nb: *x\n', 22), 'YAML aliases (the first at line 2, column 4) expand the file to 23 bytes: may not be more than 22 bytes');
  // a deep document without aliases is within its own size
  t.is(yamlProblem(`${'['.repeat(300)}${']'.repeat(300)}\n`, 601), undefined);
});

test('the content condition of PackageRevisionResources', (t) => {
  t.deepEqual(contentCondition({ Kptfile: 'kind: Kptfile\n', 'a.yaml': 'x: 1\n' }), { type: 'ResourcesValid', status: 'True', reason: 'Valid', message: '2 files' });
  const bad = contentCondition({ 'a.yaml': 'x: [\n' });
  t.is(bad.status, 'False');
  t.is(bad.reason, 'Invalid');
  t.regex(bad.message!, /^spec\.resources\[a\.yaml\]: Invalid value: "a\.yaml": YAML does not parse at line/);
});

test('kustomization lists resource files, not local-config ones, and a user kustomization wins', (t) => {
  const files = new Map([
    ['Kptfile', Buffer.from('apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: x\n  annotations: {config.kubernetes.io/local-config: "true"}\n')],
    ['svc.yaml', Buffer.from('apiVersion: v1\nkind: Service\nmetadata: {name: s}\n')],
    ['deploy.yaml', Buffer.from('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n')],
    ['notes.md', Buffer.from('# notes')],
  ]);
  const k = kustomization(files)!;
  t.regex(k, /^# Generated by pkgserver/);
  t.regex(k, /resources:\n {2}- deploy\.yaml\n {2}- svc\.yaml\n/);
  files.set('kustomization.yaml', Buffer.from('resources: [deploy.yaml]\n'));
  t.is(kustomization(files), undefined);
});

test('package-context.yaml marks every input local-config; no inputs, no file', (t) => {
  const ctx = packageContext([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' } }])!;
  t.regex(ctx, /config\.kubernetes\.io\/local-config: "true"/);
  t.is(packageContext([]), undefined);
  const withCtx = withManagedFiles(new Map([['package-context.yaml', Buffer.from('old')]]), undefined, false);
  t.false(withCtx.has('package-context.yaml'), 'removed when the inputs are gone');
});

test('layout: paths, branches and tags parse back, directories and realms included', (t) => {
  const dep = new Layout('clusters', true);
  const key = { target: 'cluster01', realm: 'infra/net', package: 'nginx' };
  t.is(dep.packagePath(key), 'clusters/cluster01/infra/net/nginx');
  t.is(dep.draftBranch(key, 'ws1'), 'drafts/clusters/cluster01/infra/net/nginx/ws1');
  t.deepEqual(dep.parseTag('clusters/cluster01/infra/net/nginx/v3'), { key, revision: 'v3' });
  t.deepEqual(dep.parseBranch('proposed/clusters/cluster01/infra/net/nginx/ws1'), { key, workspace: 'ws1', kind: 'proposed' });
  t.is(dep.parseTag('other/cluster01/nginx/v1'), undefined, 'outside the directory');
  const cat = new Layout('', false);
  t.deepEqual(cat.parseTag('nginx/v1.2.0'), { key: { target: 'catalog', realm: '', package: 'nginx' }, revision: 'v1.2.0' });
  t.is(cat.parseTag('v1'), undefined, 'a repository-wide release tag is not a package revision');
});

test('YAML: only printable characters (a NUL, an escape character or a C1 control is refused, with where it is)', (t) => {
  t.regex(yamlProblem('a: "\u0000"\n', 1 << 20) ?? '', /U\+0000 \(at line 1, column 5\)/);
  t.regex(yamlProblem('a: 1\nb: x\u001by\n', 1 << 20) ?? '', /U\+001B \(at line 2, column 5\)/);
  t.regex(yamlProblem('a: "\u0090"', 1 << 20) ?? '', /U\+0090/);
  t.regex(yamlProblem('a: "\ud800"', 1 << 20) ?? '', /U\+D800/);
  // tabs, CR LF, NEL, a BOM, non-Latin text and an escaped NUL are all fine
  t.is(yamlProblem('\ufeffa:\t"x"\r\nb: "\u0085é日本 😀"\nc: "\\u0000"\n', 1 << 20), undefined);
});
