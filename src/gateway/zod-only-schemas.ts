import type { FastifyServerOptions } from "fastify";

/**
 * Fastify's `schemaController` for Beamline's listeners: every body is validated with zod in
 * its handler (the boundary, with Beamline's own error body), and no route declares a JSON
 * schema, so Fastify's default compilers — ajv and fast-json-stringify, about 110 modules, 1.2
 * MB of heap and 2.7 MB of RSS in every process that serves HTTP — would be loaded and never
 * used (docs/architecture.md, "Router memory"). A route that does declare one fails when the
 * server starts, with this message, rather than being silently unchecked.
 */
export const zodOnlySchemas: NonNullable<FastifyServerOptions["schemaController"]> = {
  compilersFactory: {
    buildValidator: () => refuseRouteSchema,
    buildSerializer: () => refuseRouteSchema,
  },
};

function refuseRouteSchema({
  url,
  method,
}: {
  url?: string | undefined;
  method?: string | string[] | undefined;
}): never {
  throw new Error(
    `${String(method)} ${url ?? ""} declares a JSON schema; Beamline's routes validate with zod in the handler (src/gateway/zod-only-schemas.ts)`,
  );
}
