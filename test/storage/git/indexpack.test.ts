// indexPack (src/storage/git/indexpack.ts) on packs the git CLI made: the index is byte for byte
// the one `git index-pack` writes (ids, CRC-32s, offsets, checksums), with OFS_DELTA and REF_DELTA
// chains; damaged and thin packs are refused; ObjectDatabase reads every object through it.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32, indexPack } from '../../../src/storage/git/indexpack.ts';
import { ObjectDatabase } from '../../../src/storage/git/objects.ts';

const ENV = { ...process.env, GIT_AUTHOR_NAME: 'A', GIT_AUTHOR_EMAIL: 'a@example.com', GIT_COMMITTER_NAME: 'C', GIT_COMMITTER_EMAIL: 'c@example.com', GIT_CONFIG_NOSYSTEM: '1', HOME: os.tmpdir() };
const git = (cwd: string, args: string[], input?: string | Buffer) => execFileSync('git', args, { cwd, env: ENV, input, maxBuffer: 256 << 20 });

function makeRepo(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'indexpack-test-'));
  git(dir, ['init', '-q', '-b', 'main']);
  let text = '';
  for (let i = 0; i < 3000; i++) text += `line ${i}: some text that compresses and deltas well\n`;
  for (let c = 0; c < 10; c++) {
    mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(path.join(dir, 'a', 'b', 'big.txt'), text.replace(`line ${c * 7}:`, `LINE ${c * 7}:`));
    writeFileSync(path.join(dir, 'a', `f${c}.yaml`), `n: ${c}\n`);
    git(dir, ['add', '-A']);
    git(dir, ['commit', '-q', '-m', `c${c}`]);
  }
  git(dir, ['tag', '-a', '-m', 'annotated', 'v1']);
  return dir;
}

function packOf(dir: string, args: string[], revs = 'main\nv1\n'): Buffer {
  return git(dir, ['pack-objects', '--revs', '--stdout', '--window=50', '--depth=50', '-q', ...args], revs);
}

for (const [name, args] of [
  ['OFS_DELTA', ['--delta-base-offset']],
  ['REF_DELTA', []],
] as const) {
  test(`the index of a pack with ${name} chains is the one git index-pack writes`, (t) => {
    const dir = makeRepo();
    const pack = packOf(dir, [...args]);
    const ours = indexPack(pack);
    const file = path.join(dir, `pack-${ours.checksum}.pack`);
    writeFileSync(file, pack);
    git(dir, ['index-pack', '-o', file.replace(/pack$/, 'idx'), file]);
    const want = readFileSync(file.replace(/pack$/, 'idx'));
    t.true(ours.idx.equals(want), 'byte-identical index');
    t.is(ours.oids.length, pack.readUInt32BE(8));
    const verify = git(dir, ['verify-pack', '-v', file.replace(/pack$/, 'idx')]).toString();
    t.regex(verify, /chain length = [2-9]/, 'the pack has delta chains');
  });
}

test('ObjectDatabase reads every object of a pack indexed here', (t) => {
  const dir = makeRepo();
  const bare = mkdtempSync(path.join(os.tmpdir(), 'indexpack-bare-'));
  git(bare, ['init', '-q', '--bare']);
  const pack = packOf(dir, ['--delta-base-offset']);
  const { checksum, idx, oids } = indexPack(pack);
  writeFileSync(path.join(bare, 'objects', 'pack', `pack-${checksum}.pack`), pack);
  writeFileSync(path.join(bare, 'objects', 'pack', `pack-${checksum}.idx`), idx);
  const db = new ObjectDatabase(bare);
  for (const oid of oids) {
    const type = git(bare, ['cat-file', '-t', oid]).toString().trim();
    t.true(db.read(oid).data.equals(git(bare, ['cat-file', type, oid])), oid);
  }
  db.close();
  t.is(git(bare, ['fsck', '--no-dangling']).toString(), '');
});

test('a damaged pack, a truncated one and a thin one are refused', (t) => {
  const dir = makeRepo();
  const pack = packOf(dir, ['--delta-base-offset']);
  const flipped = Buffer.from(pack);
  flipped[200] ^= 0xff;
  t.throws(() => indexPack(flipped), { message: /checksum/ });
  t.throws(() => indexPack(pack.subarray(0, 100)), { message: /checksum|packfile/ });
  t.throws(() => indexPack(Buffer.from('not a pack at all, not at all, no')), { message: /not a packfile/ });
  const thin = git(dir, ['pack-objects', '--revs', '--thin', '--stdout', '-q'], 'main\n^main~3\n');
  t.throws(() => indexPack(thin), { message: /thin pack/ });
});

test('crc32 is the IEEE CRC-32', (t) => {
  t.is(crc32(Buffer.from('123456789')), 0xcbf43926);
  t.is(crc32(Buffer.alloc(0)), 0);
});
