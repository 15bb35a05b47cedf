/**
 * The part of `node:async_hooks` that src/lib/ops.ts uses (nodejs_compat provides the module;
 * the Worker's types do not include Node's).
 */
declare module "node:async_hooks" {
  export class AsyncLocalStorage<T> {
    run<R>(store: T, fn: () => R): R;
    getStore(): T | undefined;
  }
}
