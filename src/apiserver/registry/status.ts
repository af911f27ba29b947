// The `status` subresource: a write through it changes status only (customresource statusStrategy).
import type { SubresourceStrategy } from './types.ts';

export const statusSubresource: SubresourceStrategy = {
  prepareForUpdate(obj, old) {
    const next = structuredClone(old);
    if (obj.status === undefined) delete next.status;
    else next.status = obj.status;
    return next;
  },
};
