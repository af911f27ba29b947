// Files that the server follows while it runs (serving certificate, CA bundles, policy and token
// files): read once at start, then re-read when their inode, size or modification time changes.
// Polling a few stat() calls is cheap and sees atomic renames (how Secrets and ConfigMaps are
// updated in a pod) that a watch on the file itself would miss. A file that becomes unreadable or
// invalid keeps the last good value, and the failure is reported once per change.
import { readFileSync, statSync } from 'node:fs';
import type { Dynamic } from '../apiserver/authn/types.ts';

export interface FollowOptions<T> {
  /** turns the file's text into the value; throws when the text is not valid */
  parse: (text: string) => T;
  /** how often the file is checked (default 2 s) */
  intervalMs?: number;
  /** told about a change that could not be used (the old value stays) */
  onError?: (err: Error) => void;
  /** told about every change that was used */
  onReload?: (value: T) => void;
}

export interface Followed<T> extends Dynamic<T> {
  stop(): void;
}

function stamp(file: string): string {
  const st = statSync(file);
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/**
 * Follows one or more files: `parse` gets their texts (in the order given, joined for one file).
 * The first read happens here and throws if a file cannot be read or parsed.
 */
export function followFiles<T>(files: string[], opts: Omit<FollowOptions<T>, 'parse'> & { parse: (texts: string[]) => T }): Followed<T> {
  let stamps = files.map(stamp);
  let value = opts.parse(files.map((f) => readFileSync(f, 'utf8')));
  let failedStamps = '';
  const listeners = new Set<(v: T) => void>();
  const check = () => {
    let next: string[];
    try {
      next = files.map(stamp);
    } catch (e) {
      report(e as Error, 'missing');
      return;
    }
    if (next.join() === stamps.join()) return;
    try {
      const v = opts.parse(files.map((f) => readFileSync(f, 'utf8')));
      stamps = next;
      failedStamps = '';
      value = v;
      opts.onReload?.(v);
      for (const l of listeners) l(v);
    } catch (e) {
      report(e as Error, next.join());
    }
  };
  const report = (err: Error, key: string) => {
    if (failedStamps === key) return; // said once for this version of the files
    failedStamps = key;
    opts.onError?.(err);
  };
  const timer = setInterval(check, opts.intervalMs ?? 2000);
  timer.unref();
  return {
    current: () => value,
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    stop: () => clearInterval(timer),
  };
}

/** Follows one file. */
export function followFile<T>(file: string, opts: FollowOptions<T>): Followed<T> {
  return followFiles([file], { ...opts, parse: (texts) => opts.parse(texts[0]) });
}
