import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Dispatcher, Pool as PackagePool } from "undici";
import request from "undici/lib/api/api-request.js";
import Pool from "undici/lib/dispatcher/pool.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

describe("undici's Pool, loaded without undici's index (providers' HTTP transport)", () => {
  it("is the package's own Pool and request method, so an upgrade that moves them fails here", () => {
    assert.equal(Pool, PackagePool);
    assert.equal(request, Dispatcher.prototype.request);
  });

  it("sends requests in a process with every provider, without undici's index (fetch, WebSocket, caches, mocks)", () => {
    // A fresh process: this file loads the package's index itself, which mixes the request API
    // into every dispatcher; the pool must work without it.
    const script = `
      import { createServer } from "node:http";
      import { createRequire } from "node:module";
      await import("./src/providers/index.ts");
      const { createPool } = await import("./src/providers/http/undici-pool.ts");
      const server = createServer((incoming, answer) => {
        let body = "";
        incoming.on("data", (chunk) => { body += chunk; });
        incoming.on("end", () => answer.end(JSON.stringify({ method: incoming.method, path: incoming.url, body })));
      });
      await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
      const pool = createPool("http://127.0.0.1:" + server.address().port, { connections: 1 });
      const answers = [];
      for (const n of [1, 2]) {
        const response = await pool.request({ path: "/v1/x?n=" + n, method: "POST", body: "call " + n });
        answers.push({ status: response.statusCode, ...(await response.body.json()) });
      }
      await pool.close();
      server.close();
      const require = createRequire(import.meta.url);
      const undici = Object.keys(require.cache).filter((path) => /[\\\\/]node_modules[\\\\/]undici[\\\\/]/.test(path));
      process.stdout.write(JSON.stringify({ answers, undici }));
    `;
    const { answers, undici: loaded } = JSON.parse(
      execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        cwd: repoRoot,
        encoding: "utf8",
      }),
    ) as { answers: unknown[]; undici: string[] };
    assert.deepEqual(answers, [
      { status: 200, method: "POST", path: "/v1/x?n=1", body: "call 1" },
      { status: 200, method: "POST", path: "/v1/x?n=2", body: "call 2" },
    ]);
    assert.ok(
      loaded.some((path) => path.endsWith("pool.js")),
      "the providers load undici's Pool",
    );
    assert.ok(
      !loaded.includes(createRequire(import.meta.url).resolve("undici")),
      "undici's index must not be loaded",
    );
  });
});
