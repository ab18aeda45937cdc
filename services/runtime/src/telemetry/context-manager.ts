import { AsyncLocalStorage } from 'node:async_hooks';
import { context, ROOT_CONTEXT, type Context, type ContextManager } from '@opentelemetry/api';

/**
 * An OpenTelemetry context manager on AsyncLocalStorage, so the trace context of the agent
 * message being handled follows the work through awaits and promise chains (the workload
 * runner's queue, the dispatcher) without being passed by hand. Small on purpose: the same
 * as @opentelemetry/context-async-hooks' AsyncLocalStorageContextManager, minus EventEmitter binding.
 */
export class AsyncLocalStorageContextManager implements ContextManager {
  private storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.storage.run(ctx, () => fn.apply(thisArg, args));
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (...args: unknown[]) => this.with(ctx, () => (target as (...a: unknown[]) => unknown)(...args));
    return run as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }
}

let installed = false;

/** Not pure: installs the context manager globally, once per process (later calls do nothing). Returns whether this call installed it. */
export function installContextManager(): boolean {
  if (installed) return false;
  installed = context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return installed;
}
