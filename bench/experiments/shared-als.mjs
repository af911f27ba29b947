// Diagnostic experiment, not product code: multiplexes every AsyncLocalStorage of the process onto
// one real instance, to measure what the number of AsyncLocalStorage instances costs the server
// (Node 20 propagates every enabled instance's store to every new promise; one instance per
// GitRepo makes that per-promise cost grow with the number of repositories). Use:
//   BENCH_SERVER_NODE_ARGS="--import ./bench/experiments/shared-als.mjs" npm run bench
// (the path is resolved from the repository root, the server's working directory).
import asyncHooks from 'node:async_hooks';
import { syncBuiltinESMExports } from 'node:module';

const Real = asyncHooks.AsyncLocalStorage;
const shared = new Real();
const withStore = (owner, store) => {
  const m = new Map(shared.getStore() ?? []);
  if (store === undefined) m.delete(owner);
  else m.set(owner, store);
  return m;
};

class SharedAsyncLocalStorage {
  run(store, fn, ...args) {
    return shared.run(withStore(this, store), fn, ...args);
  }
  exit(fn, ...args) {
    return shared.run(withStore(this, undefined), fn, ...args);
  }
  enterWith(store) {
    shared.enterWith(withStore(this, store));
  }
  getStore() {
    return shared.getStore()?.get(this);
  }
  disable() {}
  static bind(fn) {
    return Real.bind(fn);
  }
  static snapshot() {
    return Real.snapshot();
  }
}

asyncHooks.AsyncLocalStorage = SharedAsyncLocalStorage;
syncBuiltinESMExports();
