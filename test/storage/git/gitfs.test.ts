// The file system handed to isomorphic-git (src/storage/git/gitfs.ts): its promise probe answers
// without an error, and isomorphic-git works on it as on node:fs.
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import git from 'isomorphic-git';
import { gitFs } from '../../../src/storage/git/gitfs.ts';

test('readFile() without arguments resolves (isomorphic-git\'s probe), with a path it reads', async (t) => {
  const probe = (gitFs.readFile as unknown as () => Promise<unknown>)();
  t.true(probe instanceof Promise);
  t.is(await probe, undefined);
  await t.throwsAsync(() => gitFs.readFile(path.join(os.tmpdir(), 'no-such-file-here')), { code: 'ENOENT' });
});

test('isomorphic-git writes and reads objects and refs through it', async (t) => {
  const gitdir = mkdtempSync(path.join(os.tmpdir(), 'gitfs-test-'));
  await git.init({ fs: gitFs, gitdir, bare: true, defaultBranch: 'main' });
  const blob = await git.writeBlob({ fs: gitFs, gitdir, blob: Buffer.from('hello\n') });
  t.is(blob, 'ce013625030ba8dba906f756967f9e9ca394464a'); // git hash-object of "hello\n"
  const tree = await git.writeTree({ fs: gitFs, gitdir, tree: [{ mode: '100644', path: 'a.txt', oid: blob, type: 'blob' }] });
  const author = { name: 'a', email: 'a@b', timestamp: 0, timezoneOffset: 0 };
  const commit = await git.writeCommit({ fs: gitFs, gitdir, commit: { message: 'm\n', tree, parent: [], author, committer: author } });
  await git.writeRef({ fs: gitFs, gitdir, ref: 'refs/heads/main', value: commit });
  t.is(await git.resolveRef({ fs: gitFs, gitdir, ref: 'main' }), commit);
  t.is(Buffer.from((await git.readBlob({ fs: gitFs, gitdir, oid: commit, filepath: 'a.txt' })).blob).toString(), 'hello\n');
});
