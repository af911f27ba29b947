// meta.k8s.io Table output (server-side printing) and PartialObjectMetadata, as kubectl and the
// metadata client ask for them.
import type { KObject } from '../api/meta.ts';
import type { PrinterColumn } from './registry/types.ts';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableRow {
  cells: unknown[];
  object?: unknown;
}

const NAME_COLUMN = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace. More info: http://kubernetes.io/docs/user-guide/identifiers#names', priority: 0 };

/** A kind whose columns include one of format "name" places the name itself (kube's table for events); others get it first. */
const ownsName = (columns: PrinterColumn[]) => columns.some((c) => c.format === 'name');

export function columnDefinitions(columns: PrinterColumn[]) {
  return [
    ...(ownsName(columns) ? [] : [NAME_COLUMN]),
    ...columns.map((c) => ({ name: c.name, type: c.type === 'date' ? 'string' : c.type, format: c.format ?? '', description: c.description, priority: c.priority })),
  ];
}

export function partialObjectMetadata(o: KObject, version: 'v1' | 'v1beta1' = 'v1') {
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: o.metadata };
}

/** A row; its PartialObjectMetadata is of the Table's own meta.k8s.io version (handlers/response.go asTable). */
export function tableRow(o: KObject, columns: PrinterColumn[], include: IncludeObject, now: number, version: 'v1' | 'v1beta1' = 'v1'): TableRow {
  const cells: unknown[] = ownsName(columns) ? [] : [o.metadata.name];
  for (const c of columns) {
    const v = c.cell(o);
    cells.push(c.type === 'date' ? (typeof v === 'string' && v ? humanDuration(now - Date.parse(v)) : '<unknown>') : (v ?? '<none>'));
  }
  const row: TableRow = { cells };
  if (include === 'Metadata') row.object = partialObjectMetadata(o, version);
  else if (include === 'Object') row.object = o;
  return row;
}

/**
 * A list whose entries are made when read (`at`), or all at once by JSON.stringify (`toJSON`): a
 * streamed response (handlers.ts sendList) makes each row just before writing it, so 10,000 rows
 * never live at once (and are not promoted to the old generation while the socket drains).
 */
export class MappedList<T, U> {
  constructor(
    private readonly source: readonly T[],
    private readonly fn: (t: T) => U,
  ) {}

  get length(): number {
    return this.source.length;
  }

  at(i: number): U {
    return this.fn(this.source[i]);
  }

  toJSON(): U[] {
    return this.source.map((t) => this.fn(t));
  }
}

export function table(
  objs: KObject[],
  columns: PrinterColumn[],
  opts: { include: IncludeObject; version: 'v1' | 'v1beta1'; headers: boolean; listMeta?: Record<string, unknown>; lazyRows?: boolean },
) {
  const now = Date.now();
  const t: Record<string, unknown> = { kind: 'Table', apiVersion: `meta.k8s.io/${opts.version}`, metadata: opts.listMeta ?? {} };
  if (opts.headers) t.columnDefinitions = columnDefinitions(columns);
  const row = (o: KObject) => tableRow(o, columns, opts.include, now, opts.version);
  t.rows = opts.lazyRows ? new MappedList(objs, row) : objs.map(row);
  return t;
}

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration, as kubectl shows ages. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}
