// Writing one condition of an object through its status subresource, as the controllers that own
// a readiness gate do (approval, scheduler): nothing is written when the condition already says
// it; the transition time follows meta.SetStatusCondition (src/api/meta.ts).
import { hasCondition, setCondition, type Condition, type ConditionValue, type KObject } from '../api/meta.ts';
import type { Client } from './runtime/client.ts';

export async function writeCondition(client: Client, plural: string, obj: KObject, c: ConditionValue, opts: { ignoreNotFound?: boolean } = {}): Promise<void> {
  if (hasCondition(obj.status?.conditions as Condition[] | undefined, c)) return;
  try {
    await client.update(
      plural,
      obj.metadata.namespace,
      obj.metadata.name!,
      (cur) => {
        cur.status = { ...(cur.status ?? {}), conditions: setCondition(cur.status?.conditions as Condition[] | undefined, c, cur.metadata.generation) };
        return { obj: cur };
      },
      'status',
    );
  } catch (e) {
    if (!(opts.ignoreNotFound && (e as { code?: number }).code === 404)) throw e;
  }
}
