// Static bearer tokens (kube's --token-auth-file, k8s.io/apiserver/pkg/authentication/token/
// tokenfile): a CSV file, one `token,user,uid[,"group1,group2"]` record per line, read as Go's
// encoding/csv reads it (quoted fields, "" for a quote, blank lines skipped, no comment syntax).
// As in kube, a record with an empty token is skipped and a repeated token replaces the earlier
// one, each with a warning. The file is re-read when it changes (checked on use); a change that
// cannot be read keeps the previous tokens. Tokens never appear in errors or warnings.
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { bearerToken } from './chain.ts';
import type { AuthResult, Authenticator, UserInfo } from './types.ts';

export interface TokenFile {
  tokens: Map<string, UserInfo>;
  /** kube's warnings: empty or repeated tokens (by record number, never the token) */
  warnings: string[];
}

/** Go encoding/csv records (FieldsPerRecord -1, no comments, no lazy quotes) with the line each starts on. */
function parseCSV(text: string, file: string): { line: number; fields: string[] }[] {
  const records: { line: number; fields: string[] }[] = [];
  const src = text.replace(/\r\n/g, '\n');
  let i = 0;
  let line = 1;
  const fail = (col: number, what: string): never => {
    throw new Error(`token file "${file}": parse error on line ${line}, column ${col}: ${what}`);
  };
  while (i < src.length) {
    if (src[i] === '\n') {
      i++;
      line++;
      continue; // blank line
    }
    const start = line;
    const fields: string[] = [];
    let lineStart = i;
    for (;;) {
      let field = '';
      if (src[i] === '"') {
        i++;
        for (;;) {
          if (i >= src.length) fail(i - lineStart + 1, 'extraneous or missing " in quoted-field');
          const c = src[i];
          if (c === '"') {
            if (src[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            if (i < src.length && src[i] !== ',' && src[i] !== '\n') fail(i - lineStart + 1, 'extraneous or missing " in quoted-field');
            break;
          }
          if (c === '\n') {
            line++;
            lineStart = i + 1;
          }
          field += c;
          i++;
        }
      } else {
        while (i < src.length && src[i] !== ',' && src[i] !== '\n') {
          if (src[i] === '"') fail(i - lineStart + 1, 'bare " in non-quoted-field');
          field += src[i++];
        }
      }
      fields.push(field);
      if (src[i] === ',') {
        i++;
        continue;
      }
      if (src[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    records.push({ line: start, fields });
  }
  return records;
}

/** Parses a token file's text; throws an error naming the file and line for a bad record. */
export function parseTokenFile(text: string, file: string): TokenFile {
  const tokens = new Map<string, UserInfo>();
  const warnings: string[] = [];
  let recordNum = 0;
  for (const { line, fields } of parseCSV(text, file)) {
    if (fields.length < 3) {
      throw new Error(`token file "${file}" line ${line}: must have at least 3 columns (token, user name, user uid), found ${fields.length}`);
    }
    recordNum++;
    const [token, name, uid, groups] = fields;
    if (token === '') {
      warnings.push(`empty token has been found in token file '${file}', record number '${recordNum}'`);
      continue;
    }
    if (tokens.has(token)) warnings.push(`duplicate token has been found in token file '${file}', record number '${recordNum}'`);
    tokens.set(token, {
      name,
      ...(uid && { uid }),
      groups: groups === undefined ? [] : groups.split(',').filter((g) => g !== ''),
    });
  }
  return { tokens, warnings };
}

/** Reads and parses a token file. */
export function loadTokenFile(file: string): TokenFile {
  return parseTokenFile(readFileSync(file, 'utf8'), file);
}

function stamp(file: string): string {
  const st = statSync(file);
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

export interface TokenFileOptions {
  /** told about warnings of a (re)load and about a change that could not be used */
  log?: Logger;
}

export class TokenFileAuthenticator implements Authenticator {
  private tokens: Map<string, UserInfo>;
  private stamp: string;
  private failedStamp = '';

  /** Reads the file now; throws if it cannot be read or is not valid. */
  constructor(
    private readonly file: string,
    private readonly opts: TokenFileOptions = {},
  ) {
    this.stamp = stamp(file);
    const loaded = loadTokenFile(file);
    this.tokens = loaded.tokens;
    for (const w of loaded.warnings) opts.log?.warn(w);
  }

  private reloadIfChanged(): void {
    let now: string;
    try {
      now = stamp(this.file);
    } catch (err) {
      return this.failed('missing', `token file "${this.file}" cannot be read, keeping the previous tokens: ${(err as Error).message}`);
    }
    if (now === this.stamp || now === this.failedStamp) return;
    try {
      const loaded = loadTokenFile(this.file);
      this.tokens = loaded.tokens;
      this.stamp = now;
      this.failedStamp = '';
      for (const w of loaded.warnings) this.opts.log?.warn(w);
      this.opts.log?.info({ file: this.file }, 'token file reloaded');
    } catch (err) {
      this.failed(now, `${(err as Error).message}; keeping the previous tokens`);
    }
  }

  private failed(key: string, message: string): void {
    if (this.failedStamp === key) return;
    this.failedStamp = key;
    this.opts.log?.error(message);
  }

  async authenticate(req: IncomingMessage): Promise<AuthResult | undefined> {
    const token = bearerToken(req);
    if (token === undefined) return undefined;
    this.reloadIfChanged();
    const user = this.tokens.get(token);
    if (!user) return undefined;
    return { user: { ...user, groups: [...user.groups] }, method: 'token-file', consumedHeaders: ['authorization'] };
  }
}
