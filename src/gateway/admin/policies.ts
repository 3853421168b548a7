import type { FastifyInstance, FastifyReply } from "fastify";
import { BeamlineError } from "../../errors/index.js";
import { assertTenantId, isEvent } from "../../events/index.js";
import type { EventStore } from "../../nats/index.js";
import { readLastWithSequence, StreamNames } from "../../nats/index.js";
import {
  policySubject,
  publishCatalog,
  publishPolicy,
  readPolicyHistory,
  readPublishedCatalog,
} from "../../policies/index.js";
import { defaultPolicy } from "../../routing/index.js";
import { openAiErrorBody } from "../error-body.js";

export interface PolicyAdminDeps {
  store: EventStore;
  now: () => Date;
}

async function answer(
  reply: FastifyReply,
  work: () => Promise<unknown>,
  okStatus = 200,
): Promise<FastifyReply> {
  try {
    const body = await work();
    return reply.code(okStatus).send(body);
  } catch (thrown) {
    // Anything but Beamline's own error goes to the gateway's error handler, which logs it and
    // answers a NATS read that timed out 503 with retry-after (the fuzz run met one as a 500).
    if (!(thrown instanceof BeamlineError)) throw thrown;
    return reply.code(thrown.httpStatus).send(openAiErrorBody(thrown));
  }
}

/**
 * Admin routes for tenant policies and the model catalog. Reads come from the config stream
 * (authoritative: a GET right after a PUT sees the new version); writes publish events that
 * the projector applies to every instance's live view. Register under the admin prefix,
 * behind its credential check:
 * - `GET  /policies/:tenant`          current policy (`version` 0 = built-in default)
 * - `PUT  /policies/:tenant`          publish a document (body) → `{ tenant, version }`
 * - `GET  /policies/:tenant/history`  every published version, oldest first
 * - `GET  /catalog`                   the published catalog and its revision
 * - `PUT  /catalog`                   publish a catalog document (body) → `{ revision, version }`
 */
export function registerPolicyAdminRoutes(app: FastifyInstance, deps: PolicyAdminDeps): void {
  app.get<{ Params: { tenant: string } }>("/policies/:tenant", (request, reply) =>
    answer(reply, async () => {
      const tenant = assertTenantId(request.params.tenant);
      const last = await readLastWithSequence(deps.store, StreamNames.config, policySubject(tenant));
      if (last && isEvent(last.event, "policy.updated")) {
        return {
          tenant,
          version: last.event.data.version,
          publishedAt: last.event.time,
          policy: last.event.data.policy,
        };
      }
      const fallback = defaultPolicy(tenant);
      return { tenant, version: fallback.version, publishedAt: null, policy: fallback.document };
    }),
  );

  app.put<{ Params: { tenant: string } }>("/policies/:tenant", (request, reply) =>
    answer(reply, async () => {
      const published = await publishPolicy(deps.store, request.params.tenant, request.body, deps.now());
      return { tenant: published.tenant, version: published.version };
    }),
  );

  app.get<{ Params: { tenant: string } }>("/policies/:tenant/history", (request, reply) =>
    answer(reply, async () => {
      const tenant = assertTenantId(request.params.tenant);
      return { tenant, versions: await readPolicyHistory(deps.store.nc, tenant) };
    }),
  );

  app.get("/catalog", (_request, reply) =>
    answer(reply, async () => {
      const published = await readPublishedCatalog(deps.store);
      if (!published) return { revision: 0, publishedAt: null, catalog: null };
      return {
        revision: published.revision,
        publishedAt: published.publishedAt,
        catalog: published.catalog.document,
      };
    }),
  );

  app.put("/catalog", (request, reply) =>
    answer(reply, async () => {
      const published = await publishCatalog(deps.store, request.body, deps.now());
      return { revision: published.revision, version: published.catalog.version };
    }),
  );
}
