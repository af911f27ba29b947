// Decoding of JSON and YAML request bodies into plain JSON data within bounds (./bounds.ts), for
// every endpoint that takes a body (the resource handlers and the self reviews): nothing else
// sees a body before this check, so no recursive code meets a deep or huge value.
import jsyaml from 'js-yaml';
import { badRequest, requestEntityTooLarge } from './errors.ts';
import { boundsProblem, MAX_DEPTH } from './bounds.ts';

/** What a decoded body may be at most, once YAML aliases are expanded (the request body limit). */
export const DEFAULT_MAX_DECODED_BYTES = 3 * 1024 * 1024;

/** Media types whose text is YAML. */
const YAML_TYPES = new Set(['application/yaml', 'application/apply-patch+yaml']);

/** The body's text as JSON data, or a 400/413 Status. */
export function decodeText(text: string, type: string, maxBytes = DEFAULT_MAX_DECODED_BYTES): unknown {
  if (!text.trim()) throw badRequest('the request body is empty');
  let body: unknown;
  try {
    // YAML: js-yaml with the core schema (no !!binary, !!timestamp or other values that are not
    // JSON data; duplicate keys refused); it shares aliased nodes instead of copying them, bounds
    // the nesting, and costs a tenth of the memory and time of the yaml package on large scalars
    body = YAML_TYPES.has(type) ? jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA, maxDepth: MAX_DEPTH } as jsyaml.LoadOptions) : JSON.parse(text);
  } catch (e) {
    // a parser's recursion meeting a deeply nested text
    const tooDeep = e instanceof RangeError || /Maximum call stack size exceeded|nesting exceeded maxDepth/.test((e as Error).message);
    throw badRequest(tooDeep ? `the request body could not be decoded: it nests deeper than ${MAX_DEPTH} levels` : `the request body could not be decoded: ${(e as Error).message}`);
  }
  checkBounds(body, maxBytes);
  return body;
}

/** 400 for a value that is not JSON data or nests too deep; 413 for one too large once expanded. */
export function checkBounds(value: unknown, maxBytes = DEFAULT_MAX_DECODED_BYTES): void {
  const p = boundsProblem(value, { maxBytes });
  if (!p) return;
  if (p.kind === 'size') throw requestEntityTooLarge(p.limit, 'the decoded request body (YAML aliases expanded)');
  if (p.kind === 'depth') throw badRequest(`the request body nests deeper than ${MAX_DEPTH} levels (at ${p.path})`);
  throw badRequest(p.type.startsWith('number') ? `the request body could not be decoded: ${p.path} is a ${p.type}` : `the request body could not be decoded: ${p.path} is a ${p.type}, not JSON data`);
}
