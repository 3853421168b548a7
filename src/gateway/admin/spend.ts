import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  openSpendKv,
  readTenantSpend,
  type SpendAmounts,
  type SpendGroupBy,
  summariseSpend,
} from "../../../projections/index.js";
import { formatNanoUsd } from "../../catalog/index.js";
import { BeamlineError } from "../../errors/index.js";
import { parseAdminInput, type TenancyAdmin, tenantIdSchema } from "../../tenancy/index.js";
import type { AdminRoutes } from "./protected-scope.js";

const tenantParams = z.object({ tenant: tenantIdSchema });
const day = z.iso.date("a UTC day, YYYY-MM-DD");
const spendQuery = z.object({
  since: day.optional(),
  until: day.optional(),
  groupBy: z.enum(["key", "model", "day"]).default("day"),
});

/** Amounts as answered: the integer nano-USD and, for people, the same in USD. */
function withUsd<A extends SpendAmounts>(amounts: A): A & { costUsd: string } {
  return { ...amounts, costUsd: formatNanoUsd(amounts.costNanoUsd) };
}

/**
 * `GET /admin/v1/tenants/{id}/spend?since=&until=&groupBy=key|model|day`: a tenant's spend from
 * the `bl_spend` projection. `since` and `until` are UTC days, both inclusive and both optional;
 * groups are sorted, requests made without a key are the group `null`, and the total of the
 * range is always included. The projection follows BL_USAGE with the projector's lag (normally
 * milliseconds); `beamline billing reconcile` proves it equal to the stream.
 */
export function spendAdminRoutes(nc: NatsConnection, tenancy: TenancyAdmin): AdminRoutes {
  let kv: Promise<KV> | undefined;
  return (admin: FastifyInstance) => {
    admin.get("/tenants/:tenant/spend", async (request) => {
      const { tenant } = parseAdminInput(tenantParams, request.params);
      const query = parseAdminInput(spendQuery, request.query);
      if (query.since !== undefined && query.until !== undefined && query.since > query.until) {
        throw new BeamlineError("BL_BAD_REQUEST", `since ${query.since} is after until ${query.until}.`, {
          param: "since",
        });
      }
      await tenancy.getTenant(tenant);
      kv ??= openSpendKv(nc);
      const range = { sinceDay: query.since, untilDay: query.until };
      const records = [];
      for await (const record of readTenantSpend(await kv, tenant, range)) records.push(record);
      const summary = summariseSpend(records, query.groupBy as SpendGroupBy, range);
      return {
        object: "spend",
        tenant,
        since: query.since ?? null,
        until: query.until ?? null,
        groupBy: query.groupBy,
        groups: summary.groups.map(withUsd),
        total: withUsd(summary.total),
      };
    });
  };
}
