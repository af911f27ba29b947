// Label selectors (the full set-based syntax of k8s.io/apimachinery/pkg/labels) and field
// selectors (k8s.io/apimachinery/pkg/fields: =, ==, != with backslash escapes).
import { badRequest } from './errors.ts';

type LabelOp = 'in' | 'notin' | 'exists' | '!' | '=' | '!=' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

export type LabelSelector = LabelRequirement[];

const KEY_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Parses a label selector; throws a 400 naming what is wrong. */
export function parseLabelSelector(input: string | undefined): LabelSelector {
  if (!input || !input.trim()) return [];
  const reqs: LabelSelector = [];
  let i = 0;
  const s = input;
  const fail = (msg: string): never => {
    throw badRequest(`unable to parse requirement: ${msg}`);
  };
  const ws = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  const ident = (): string => {
    ws();
    const start = i;
    while (i < s.length && !/[\s,=!()<>]/.test(s[i])) i++;
    return s.slice(start, i);
  };
  const checkKey = (k: string) => {
    if (!KEY_RE.test(k) || k.length > 316) fail(`invalid label key "${k}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  };
  const checkValue = (v: string) => {
    if (v.length > 63 || !VALUE_RE.test(v)) fail(`invalid label value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  };
  while (i < s.length) {
    ws();
    let neg = false;
    if (s[i] === '!') {
      neg = true;
      i++;
    }
    const key = ident();
    if (!key) fail(`found '${s[i] ?? 'end of string'}', expected: identifier`);
    checkKey(key);
    ws();
    if (neg) {
      reqs.push({ key, op: '!', values: [] });
    } else if (i >= s.length || s[i] === ',') {
      reqs.push({ key, op: 'exists', values: [] });
    } else if (s.startsWith('==', i) || s[i] === '=') {
      i += s.startsWith('==', i) ? 2 : 1;
      const v = ident();
      checkValue(v);
      reqs.push({ key, op: '=', values: [v] });
    } else if (s.startsWith('!=', i)) {
      i += 2;
      const v = ident();
      checkValue(v);
      reqs.push({ key, op: '!=', values: [v] });
    } else if (s[i] === '>' || s[i] === '<') {
      const op = s[i] === '>' ? 'gt' : 'lt';
      i++;
      const v = ident();
      if (!/^-?\d+$/.test(v)) fail(`for 'Gt', 'Lt' operators, the value must be an integer`);
      reqs.push({ key, op, values: [v] });
    } else {
      const word = ident();
      if (word !== 'in' && word !== 'notin') fail(`found '${word}', expected: in, notin, =, ==, !=, gt, lt`);
      ws();
      if (s[i] !== '(') fail(`found '${s[i] ?? 'end of string'}', expected: '('`);
      i++;
      const values: string[] = [];
      for (;;) {
        const v = ident();
        checkValue(v);
        values.push(v);
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === ')') {
          i++;
          break;
        }
        fail(`found '${s[i] ?? 'end of string'}', expected: ',' or ')'`);
      }
      reqs.push({ key, op: word as LabelOp, values });
    }
    ws();
    if (i < s.length) {
      if (s[i] !== ',') fail(`found '${s[i]}', expected: ',' or 'end of string'`);
      i++;
    }
  }
  return reqs;
}

export function matchLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  for (const r of sel) {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels![r.key] : undefined;
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case '!':
        if (has) return false;
        break;
      case '=':
        if (v !== r.values[0]) return false;
        break;
      case '!=':
        if (v === r.values[0]) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v!)) return false;
        const n = Number(v);
        if (r.op === 'gt' ? !(n > Number(r.values[0])) : !(n < Number(r.values[0]))) return false;
        break;
      }
    }
  }
  return true;
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/**
 * Parses a field selector and checks every field against the resource's supported set.
 * Unknown fields are a 400 "field label not supported", as kube-apiserver answers.
 */
export function parseFieldSelector(input: string | undefined, supported: Iterable<string>): FieldRequirement[] {
  if (!input) return [];
  const allowed = new Set(supported);
  const reqs = parseFieldTerms(input);
  for (const r of reqs) if (!allowed.has(r.field)) throw badRequest(`field label not supported: ${r.field}`);
  return reqs;
}

/** The terms of a field selector, any field (fields.ParseSelector); a 400 for one that does not parse. */
export function parseFieldTerms(input: string): FieldRequirement[] {
  const reqs: FieldRequirement[] = [];
  for (const term of splitUnescaped(input, ',')) {
    if (!term) continue;
    const m = findOperator(term);
    const value = m && unescapeValue(term.slice(m.index + m.op.length));
    if (!m || value === undefined) throw badRequest(`invalid selector: '${input}'; can't understand '${term}'`);
    reqs.push({ field: term.slice(0, m.index).trim(), op: m.op === '!=' ? '!=' : '=', value });
  }
  return reqs;
}

export function matchFields(reqs: FieldRequirement[], fields: (name: string) => string): boolean {
  for (const r of reqs) {
    const v = fields(r.field);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

/** The value a `metadata.name=X` requirement pins, for a fast path. */
export function exactName(reqs: FieldRequirement[]): string | undefined {
  return reqs.find((r) => r.field === 'metadata.name' && r.op === '=')?.value;
}

function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && i + 1 < s.length) {
      cur += s[i] + s[i + 1];
      i++;
    } else if (s[i] === sep) {
      out.push(cur);
      cur = '';
    } else cur += s[i];
  }
  out.push(cur);
  return out;
}

function findOperator(term: string): { index: number; op: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    if (term[i] === '\\') {
      i++;
      continue;
    }
    if (term.startsWith('!=', i)) return { index: i, op: '!=' };
    if (term.startsWith('==', i)) return { index: i, op: '==' };
    if (term[i] === '=') return { index: i, op: '=' };
  }
  return undefined;
}

/** fields.UnescapeValue: a backslash escapes a backslash, a comma or an equals sign; any other escape, or a bare comma or equals sign, is invalid */
function unescapeValue(v: string): string | undefined {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === '\\') {
      const n = v[i + 1];
      if (n !== '\\' && n !== ',' && n !== '=') return undefined;
      out += n;
      i++;
    } else if (c === ',' || c === '=') return undefined;
    else out += c;
  }
  return out;
}
