import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Fastify from "fastify";
import { zodOnlySchemas } from "../../src/gateway/zod-only-schemas.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

describe("Fastify without JSON-schema compilers (the gateway's and the metrics listener's)", () => {
  it("answers routes without a schema, JSON bodies serialised as usual", async () => {
    const app = Fastify({ logger: false, schemaController: zodOnlySchemas });
    app.post("/echo", async (request) => ({ got: request.body }));
    try {
      const reply = await app.inject({ method: "POST", url: "/echo", payload: { a: [1, "two"] } });
      assert.equal(reply.statusCode, 200);
      assert.deepEqual(reply.json(), { got: { a: [1, "two"] } });
    } finally {
      await app.close();
    }
  });

  it("refuses, at start, a route that declares a body or response schema", async () => {
    for (const schema of [
      { body: { type: "object" } },
      { response: { 200: { type: "object", properties: { ok: { type: "boolean" } } } } },
    ]) {
      const app = Fastify({ logger: false, schemaController: zodOnlySchemas });
      app.post("/checked", { schema }, async () => ({ ok: true }));
      await assert.rejects(async () => {
        await app.ready();
      }, /POST \/checked declares a JSON schema; Beamline's routes validate with zod/);
      await app.close().catch(() => undefined);
    }
  });

  it("leaves ajv and fast-json-stringify unloaded in a process serving a request", () => {
    // A fresh process, so this file's own imports do not count.
    const script = `
      import { createRequire } from "node:module";
      const { default: Fastify } = await import("fastify");
      const { zodOnlySchemas } = await import("./src/gateway/zod-only-schemas.ts");
      await import("./src/gateway/index.ts");
      const app = Fastify({ logger: false, schemaController: zodOnlySchemas });
      app.get("/", async () => ({ ok: true }));
      const reply = await app.inject("/");
      await app.close();
      const require = createRequire(import.meta.url);
      // Fastify's prebuilt error serializer uses fast-json-stringify's small runtime; the
      // compilers are ajv and fast-json-stringify's index.
      const compilers = Object.keys(require.cache).filter(
        (path) => /[\\/]node_modules[\\/](ajv[\\/]|fast-json-stringify[\\/]index.js)/.test(path),
      );
      process.stdout.write(JSON.stringify({ body: reply.json(), compilers }));
    `;
    const result = JSON.parse(
      execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        cwd: repoRoot,
        encoding: "utf8",
      }),
    ) as { body: unknown; compilers: string[] };
    assert.deepEqual(result.body, { ok: true });
    assert.deepEqual(result.compilers, []);
  });
});
