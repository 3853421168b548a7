import type { Dispatcher, Pool } from "undici";
import request from "undici/lib/api/api-request.js";
import PoolClass from "undici/lib/dispatcher/pool.js";

/**
 * A keep-alive pool to one origin, with the one call the HTTP providers make on it.
 *
 * Why not `import { Pool } from "undici"`: undici's index also loads fetch, WebSocket,
 * EventSource, the caches and the mock agent, which a router never uses — 3 MB of heap and 8 MB
 * of RSS in every process (docs/architecture.md, "Router memory"). Loaded on its own, `Pool`
 * lacks the request API the index mixes into every dispatcher, so `request` is called on the
 * pool here, the way the index's mixin would. test/unit/undici-pool.test.ts fails if an undici
 * upgrade moves either module or changes what the index exports.
 */
export interface ProviderPool {
  request(options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
  close(): Promise<void>;
}

export function createPool(origin: string, options: Pool.Options): ProviderPool {
  const pool = new PoolClass(origin, options);
  return {
    request: (requestOptions) => request.call(pool, requestOptions),
    close: () => pool.close(),
  };
}
