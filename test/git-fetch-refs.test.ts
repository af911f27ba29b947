// The first fetch of a repository with many tags (issue 10, item 3): the new refs go into
// packed-refs in one write instead of a loose file each, and the clone reads exactly as the
// remote (GitRepo, and the git CLI on the clone); later fetches move refs (a loose file over the
// packed one), delete them (from packed-refs too) and add a few (loose files).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GitRepo } from '../src/storage/git/repo.ts';
import { git, startGitServer, type GitServer } from './helpers/gitserver.ts';

let server: GitServer;
let tmp: string;
test.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'git-fetch-refs-'));
  server = await startGitServer();
});
test.after.always(async () => {
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const TAGS = 150;
/** a map's entries in key order (maps compare in insertion order) */
const sorted = (m: Map<string, string>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

test('a first fetch of 150 tags writes packed-refs once; later fetches move, delete and add refs', async (t) => {
  const bare = await server.createBareRepo('many', { initialFiles: { 'README.md': 'hi\n' } });
  const lines: string[] = [];
  for (let i = 1; i <= TAGS; i++) {
    const msg = `p${i}\n`;
    lines.push('commit refs/heads/main', `mark :${i}`, `committer S <s@example.com> ${1_700_000_000 + i} +0000`, `data ${msg.length}`, msg.slice(0, -1));
    if (i === 1) lines.push('from refs/heads/main^0');
    lines.push(`M 100644 inline p${i}/Kptfile`, 'data 3', 'k: ', '', `reset refs/tags/p${i}/v1`, `from :${i}`, '');
  }
  execFileSync('git', ['fast-import', '--quiet'], { cwd: bare, input: lines.join('\n') + '\n' });
  const remoteTags = async () => sorted(new Map((await git(bare, 'for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/tags')).trim().split('\n').map((l) => l.split(' ') as [string, string])));

  const gitdir = path.join(tmp, 'clone.git');
  const repo = await GitRepo.open({ gitdir, remote: { url: server.url('many') } });
  const packed = readFileSync(path.join(gitdir, 'packed-refs'), 'utf8');
  t.is(packed.split('\n').filter((l) => l.includes(' refs/tags/')).length, TAGS);
  t.false(existsSync(path.join(gitdir, 'refs/tags/p1')), 'no loose tag files');
  t.deepEqual(sorted(await repo.listRefs('refs/tags/')), await remoteTags());
  t.is(await repo.resolve('refs/tags/p7/v1'), new Map(await remoteTags()).get('p7/v1')!);
  // git itself reads the clone the same way
  t.deepEqual(sorted(new Map((await git(gitdir, 'for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/tags')).trim().split('\n').map((l) => l.split(' ') as [string, string]))), await remoteTags());

  // the remote moves one tag, deletes one, adds two: the next fetch follows
  await git(bare, 'tag', '-f', 'p1/v1', 'refs/tags/p2/v1');
  await git(bare, 'tag', '-d', 'p3/v1');
  await git(bare, 'tag', 'p1/v2', 'refs/tags/p4/v1');
  await git(bare, 'tag', 'p3/v1/x', 'refs/tags/p5/v1'); // where the deleted p3/v1 was, a longer name
  const changes = await repo.fetch();
  t.deepEqual(changes.map((c) => c.ref), ['refs/tags/p1/v1', 'refs/tags/p1/v2', 'refs/tags/p3/v1', 'refs/tags/p3/v1/x']);
  t.deepEqual(sorted(await repo.listRefs('refs/tags/')), await remoteTags());
  t.false(readFileSync(path.join(gitdir, 'packed-refs'), 'utf8').includes('refs/tags/p3/v1\n'));
  t.deepEqual(sorted(new Map((await git(gitdir, 'for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/tags')).trim().split('\n').map((l) => l.split(' ') as [string, string]))), await remoteTags());
  t.deepEqual(await repo.fetch(), []);
});
