// The store's latency on /metrics (issue 12: what an operator watches on etcd): every call of a
// Store timed into one histogram, by backend and operation, beside kube-apiserver's request
// metrics. A decorator: the backends stay free of metrics.
import client from 'prom-client';
import type { Store } from './interface.ts';

export const storeRequestDuration = new client.Histogram({
  name: 'pkgserver_store_request_duration_seconds',
  help: 'Latency of the object store\'s operations (the etcd or SQLite backend), by backend and operation.',
  labelNames: ['backend', 'operation'],
  // kube's etcd_request_duration_seconds buckets
  buckets: [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60],
  registers: [],
});

const TIMED = ['currentRevision', 'compactedRevision', 'get', 'list', 'create', 'createMany', 'update', 'delete', 'history', 'compact'] as const;
/** what only some backends have (etcd): present on the wrapper exactly when the backend has it */
const OPTIONAL = ['requestProgress', 'createIndexed', 'deleteIndexed'] as const;

/** `store` with every operation but subscribe and close timed into storeRequestDuration{backend}. */
export function instrumentStore(store: Store, backend: string): Store {
  const timed = {} as Record<(typeof TIMED)[number] | (typeof OPTIONAL)[number], unknown>;
  for (const op of [...TIMED, ...OPTIONAL.filter((o) => typeof store[o] === 'function')]) {
    const fn = (store[op] as unknown as (...a: unknown[]) => Promise<unknown>).bind(store);
    const labels = { backend, operation: op };
    // the backend's own promise is returned, so that a caller resumes exactly when it would
    // without the timer (an extra await here changed the interleaving of concurrent requests)
    timed[op] = (...args: unknown[]) => {
      const end = storeRequestDuration.startTimer(labels);
      const p = fn(...args);
      p.then(() => end(), () => end());
      return p;
    };
  }
  return {
    ...(timed as Pick<Store, (typeof TIMED)[number]>),
    ...(timed as Pick<Store, (typeof OPTIONAL)[number]>),
    subscribe: (listener, onGap) => store.subscribe(listener, onGap),
    close: () => store.close(),
  };
}
