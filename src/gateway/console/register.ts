import type { FastifyInstance } from "fastify";
import type { EventStore } from "../../nats/index.js";
import type { Logger } from "../../observability/index.js";
import type { TenancyAdmin } from "../../tenancy/index.js";
import { type AdminScopeOptions, registerAdminRoutes } from "../admin/index.js";
import { consoleLiveRoutes, registerConsolePage } from "./routes.js";
import { ConsoleSource } from "./snapshots.js";

/** What the console reads: the log, the tenancy projections, the clock, the drain state. */
export interface ConsoleDeps {
  store: EventStore;
  log: Logger;
  tenancyAdmin: TenancyAdmin;
  now: () => Date;
  drain?: { readonly draining: boolean } | undefined;
}

/**
 * Mounts the web console: the page at `/console` and its live data at
 * `/admin/v1/console/live`, behind the admin token (docs/observability.md, "Web console").
 * Nothing is mounted without an admin token.
 */
export function registerConsole(app: FastifyInstance, admin: AdminScopeOptions, deps: ConsoleDeps): void {
  if (!admin.adminToken) return;
  registerConsolePage(app, admin.adminToken);
  const source = new ConsoleSource({
    store: deps.store,
    log: deps.log,
    tenancy: deps.tenancyAdmin,
    now: deps.now,
  });
  app.addHook("onClose", async () => source.close());
  registerAdminRoutes(
    app,
    admin,
    consoleLiveRoutes(source, { log: deps.log, draining: () => deps.drain?.draining === true }),
  );
}
