// Naming rules shared by the kinds: DNS labels, realms, package paths, directories and branches in a
// repository (git ref names), durations.
import { dns1123LabelError, fieldErr, type FieldError } from './fielderrors.ts';
import { isRevision } from './pkg.ts';

/** A required DNS-1123 label field. */
export function labelField(field: string, value: unknown): FieldError[] {
  if (value === undefined || value === '') return [fieldErr.required(field)];
  const e = dns1123LabelError(field, String(value));
  return e ? [e] : [];
}

/** A realm: empty, or "/"-separated DNS labels ("infra/net"). */
export function realmField(field: string, value: unknown): FieldError[] {
  if (value === undefined || value === '') return [];
  const s = String(value);
  if (s.split('/').every((seg) => dns1123LabelError(field, seg) === undefined)) return [];
  return [fieldErr.invalid(field, s, 'a realm is a "/"-separated path of lowercase RFC 1123 labels (e.g. "infra/net"), with no empty segment')];
}

/**
 * A package path (realm segments and the package name) may not have a segment named like a
 * revision: the tag of revision v3 of package P is "P/v3", so a package "P/v3" would collide.
 */
export function revisionSegmentErrors(realmField: string, packageField: string, realm: string | undefined, pkg: string | undefined): FieldError[] {
  const why = 'a package path may not contain a segment named like a revision (v1, v2.0, ...)';
  return [
    ...(realm ? realm.split('/') : []).filter(isRevision).map((seg) => fieldErr.invalid(realmField, seg, why)),
    ...(pkg !== undefined && isRevision(pkg) ? [fieldErr.invalid(packageField, pkg, why)] : []),
  ];
}

/** Control characters (C0, DEL, C1) and the bidirectional formatting characters (U+202A–U+202E, U+2066–U+2069). */
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

/** Segments git gives a meaning to, refused as directory names (whatever their case). */
const GIT_SPECIAL = new Set(['.git', '.gitmodules', '.gitattributes']);

/**
 * A clean relative directory inside a repository: "" (the root), or "/"-separated segments, none
 * empty, "." or "..", none beginning or ending with whitespace, none special to git, all printable.
 */
export function directoryField(field: string, value: unknown): FieldError[] {
  if (value === undefined || value === '') return [];
  const s = String(value);
  const segs = s.split('/');
  const why = s.startsWith('/')
    ? 'must be a relative path (no leading "/")'
    : UNPRINTABLE.test(s)
      ? 'must not contain control or bidirectional formatting characters'
      : segs.some((x) => x === '' || x === '.' || x === '..')
        ? 'must not contain empty, "." or ".." segments (nor a trailing "/")'
        : segs.some((x) => /^\s|\s$/.test(x))
          ? 'a segment must not begin or end with whitespace'
          : segs.some((x) => GIT_SPECIAL.has(x.toLowerCase()))
            ? 'must not contain a ".git", ".gitmodules" or ".gitattributes" segment'
            : undefined;
  return why ? [fieldErr.invalid(field, s, why)] : [];
}

/** `git check-ref-format` rules, restricted to branches and tags (`refs/heads/…`, `refs/tags/…`). */
export function isValidRefName(ref: string): boolean {
  if (!/^refs\/(heads|tags)\/./.test(ref)) return false;
  if (ref.endsWith('/') || ref.endsWith('.') || ref.includes('..') || ref.includes('@{')) return false;
  // control characters, space, ~ ^ : ? * [ and backslash
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(ref)) return false;
  return ref.split('/').every((part) => part.length > 0 && !part.startsWith('.') && !part.endsWith('.lock'));
}

/** Longest branch name: a loose ref is a file, and a segment plus ".lock" must fit a file name (255 bytes). */
export const MAX_BRANCH_BYTES = 200;

/** A git branch name such as "main" (what `git check-ref-format --branch` accepts), not a full ref. */
export function branchField(field: string, value: unknown): FieldError[] {
  const s = String(value ?? '');
  if (Buffer.byteLength(s) > MAX_BRANCH_BYTES) return [fieldErr.tooLong(field, MAX_BRANCH_BYTES)];
  const why =
    s === ''
      ? 'must be a branch name such as main'
      : s.startsWith('refs/')
        ? 'must be a branch name such as main, not a full ref'
        : s.startsWith('-') || s === 'HEAD' || s === '@' || !isValidRefName(`refs/heads/${s}`)
          ? 'must be a valid git branch name (git check-ref-format --branch): no control characters, space, ~ ^ : ? * [ \\, "..", "@{", empty segments, a segment starting with "." or ending with ".lock", a leading "-" or a trailing "."'
          : undefined;
  return why ? [fieldErr.invalid(field, s, why)] : [];
}

/** A Go-style duration ("60s", "5m", "1h30m"), at least `minSeconds`. Returns seconds or an error. */
export function parseDuration(s: string): number | undefined {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s);
  if (!m || s === '') return undefined;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}
