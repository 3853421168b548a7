// Types for the two undici modules src/providers/http/undici-pool.ts loads on their own: the
// package's own `Pool` class and the `request` method its index mixes into every dispatcher
// (test/unit/undici-pool.test.ts holds both to the package's exports).
declare module "undici/lib/dispatcher/pool.js" {
  import type { Pool } from "undici";

  const PoolClass: typeof Pool;
  export default PoolClass;
}

declare module "undici/lib/api/api-request.js" {
  import type { Dispatcher } from "undici";

  const request: (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
  export default request;
}
