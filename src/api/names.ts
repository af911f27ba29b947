// Naming rules shared by the kinds: DNS labels, realms, package paths.
import { dns1123LabelError, fieldErr, type FieldError } from './fielderrors.ts';

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

/** A relative directory inside a repository: "", or "/"-separated segments without "." or "..". */
export function directoryField(field: string, value: unknown): FieldError[] {
  if (value === undefined || value === '') return [];
  const s = String(value);
  const segs = s.split('/');
  if (s.startsWith('/') || segs.some((x) => x === '' || x === '.' || x === '..' || x === '.git' || x.includes('\0')))
    return [fieldErr.invalid(field, s, 'must be a relative path of non-empty segments, without ".", ".." or ".git" and without a leading or trailing "/"')];
  return [];
}

/** A git branch name (git check-ref-format --branch). */
export function branchField(field: string, value: unknown): FieldError[] {
  const s = String(value ?? '');
  if (
    !s ||
    s.startsWith('-') ||
    s.startsWith('/') ||
    s.endsWith('/') ||
    s.endsWith('.') ||
    s.endsWith('.lock') ||
    s.includes('..') ||
    s.includes('//') ||
    s.includes('@{') ||
    /[\x00-\x20\x7f~^:?*[\\]/.test(s) ||
    s.split('/').some((seg) => seg.startsWith('.'))
  )
    return [fieldErr.invalid(field, s, 'must be a valid git branch name')];
  return [];
}

/** A Go-style duration ("60s", "5m", "1h30m"), at least `minSeconds`. Returns seconds or an error. */
export function parseDuration(s: string): number | undefined {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s);
  if (!m || s === '') return undefined;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}
