// Reading metadata.managedFields in end-to-end tests.

export interface ManagedFieldsEntry {
  manager: string;
  operation: string;
  subresource?: string;
  fieldsV1?: Record<string, any>;
}

/** The `Update` entry of `manager` (through `subresource`, or the main resource when undefined), if any. */
export function updatedBy(o: { metadata: { managedFields?: ManagedFieldsEntry[] } }, manager: string, subresource?: string): ManagedFieldsEntry | undefined {
  return (o.metadata.managedFields ?? []).find((e) => e.manager === manager && e.operation === 'Update' && e.subresource === subresource);
}

/** "manager/operation[/subresource]" of every entry, sorted: for messages. */
export function managersOf(o: { metadata: { managedFields?: ManagedFieldsEntry[] } }): string[] {
  return (o.metadata.managedFields ?? []).map((e) => `${e.manager}/${e.operation}${e.subresource ? `/${e.subresource}` : ''}`).sort();
}
