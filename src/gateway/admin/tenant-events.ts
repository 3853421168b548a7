import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { parseAdminInput } from "../../tenancy/index.js";
import type { AdminRoutes } from "./protected-scope.js";

/** The parameters of a tenant history export, validated at the HTTP boundary. */
export interface TenantEventsRequest {
  tenant: string;
  since?: Date | undefined;
  until?: Date | undefined;
  requestId?: string | undefined;
  /** Comma-separated event types, validated by the exporter. */
  types?: string | undefined;
}

/**
 * Opens a tenant's history as JSONL text chunks (whole lines). It refuses a bad request by
 * throwing before the first chunk; the runtime passes the log reader in (replay/ is a leaf the
 * gateway may not import).
 */
export type OpenTenantExport = (
  request: TenantEventsRequest,
  signal: AbortSignal,
) => Promise<AsyncIterable<string>>;

const instant = z
  .string()
  .refine((value) => /^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value)), {
    message: "not an ISO-8601 time (e.g. 2026-12-01 or 2026-12-01T09:30:00Z)",
  })
  .transform((value) => new Date(value));

const eventsQuery = z.strictObject({
  since: instant.optional(),
  until: instant.optional(),
  request: z.string().optional(),
  types: z.string().optional(),
});

const tenantParams = z.object({ tenant: z.string() });

/**
 * `GET /tenants/:tenant/events?since=&until=&request=&types=`: the tenant's history as NDJSON
 * (`application/x-ndjson`), the line format of `beamline audit export` (docs/audit.md),
 * streamed as it is read. A client that disconnects ends the read and its consumers.
 */
export function tenantEventsRoutes(open: OpenTenantExport): AdminRoutes {
  return (admin: FastifyInstance) => {
    admin.get("/tenants/:tenant/events", async (request, reply) => {
      const { tenant } = parseAdminInput(tenantParams, request.params);
      const query = parseAdminInput(eventsQuery, request.query);
      const abort = new AbortController();
      // `close` on the response fires when the answer ended or the client left before it did.
      reply.raw.once("close", () => abort.abort());
      const chunks = await open(
        {
          tenant,
          since: query.since,
          until: query.until,
          requestId: query.request,
          types: query.types,
        },
        abort.signal,
      );
      return reply
        .header("content-type", "application/x-ndjson")
        .header("cache-control", "no-store")
        .send(Readable.from(chunks, { objectMode: false }));
    });
  };
}
