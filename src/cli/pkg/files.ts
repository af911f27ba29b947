// A package's files in a local directory: reading and writing them safely, and the record of the
// pull (`.pkgserver-pull.yaml`: which revision, at which resourceVersion, with which files), which
// push reads to refuse a stale write and never sends.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { UserError } from './client.ts';

export const PULL_RECORD = '.pkgserver-pull.yaml';

export interface PullRecord {
  name: string;
  namespace: string;
  resourceVersion: string;
  files: string[];
}

/** The absolute path of package file `rel` in `dir`, or a UserError when it would be outside. */
export function safeJoin(dir: string, rel: string): string {
  const parts = rel.split('/');
  if (!rel || rel.startsWith('/') || rel.includes('\\') || parts.some((p) => p === '..' || p === '.' || p === '') || path.isAbsolute(rel))
    throw new UserError(`refusing the file "${rel}": its path leaves the directory or is not a plain relative path`);
  const abs = path.resolve(dir, ...parts);
  const r = path.relative(path.resolve(dir), abs);
  if (r.startsWith('..') || path.isAbsolute(r)) throw new UserError(`refusing the file "${rel}": it would be written outside ${dir}`);
  if (parts[0] === PULL_RECORD) throw new UserError(`refusing the file "${rel}": the name is kubectl pkg's own`);
  return abs;
}

export async function readRecord(dir: string): Promise<PullRecord | undefined> {
  const p = path.join(dir, PULL_RECORD);
  if (!existsSync(p)) return undefined;
  return YAML.parse(await readFile(p, 'utf8')) as PullRecord;
}

export async function writeRecord(dir: string, r: PullRecord): Promise<void> {
  await writeFile(path.join(dir, PULL_RECORD), `# written by kubectl pkg pull; kubectl pkg push reads it and never pushes it\n${YAML.stringify(r)}`);
}

/** Writes `files` in `dir` (every path checked first), removing the files of the previous pull that are gone. */
export async function writeFiles(dir: string, files: Record<string, string>, previous: string[] = []): Promise<void> {
  const targets = Object.keys(files).map((f) => [f, safeJoin(dir, f)] as const);
  await mkdir(dir, { recursive: true });
  for (const f of previous) if (!(f in files)) await rm(safeJoin(dir, f), { force: true });
  for (const [f, abs] of targets) {
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, files[f]);
  }
}

/** Every file under `dir` (relative, "/"-separated path → content), without .git and the pull record. */
export async function readFiles(dir: string): Promise<Record<string, string>> {
  if (!existsSync(dir)) throw new UserError(`${dir} does not exist`);
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const rel = path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/');
    if (rel === PULL_RECORD || rel.split('/').includes('.git')) continue;
    out[rel] = await readFile(path.join(dir, rel), 'utf8');
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}
