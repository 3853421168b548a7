import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { createOpenAiAdapter } from "../../../src/providers/index.js";

describe("an OpenAI-compatible provider", { timeout: 10_000 }, () => {
  it("is called under its own name with its key as bearer and its extra headers", async () => {
    const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
    const server = createServer((req, res) => {
      seen.push({ url: req.url ?? "", headers: req.headers });
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            id: "cmpl-1",
            object: "chat.completion",
            created: 1,
            model: "llama-3",
            choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
            usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const adapter = createOpenAiAdapter({
      name: "vllm",
      baseUrl: `http://127.0.0.1:${port}/v1`,
      apiKey: "vllm-secret",
      headers: { "X-Org": "acme", "Content-Type": "text/plain" },
    });
    try {
      assert.equal(adapter.name, "vllm");
      const result = await adapter.complete({
        upstreamModel: "llama-3",
        request: { model: "alias", messages: [{ role: "user", content: "hi" }] },
      });
      assert.equal(result.completion.choices[0]?.message.content, "hi");
      assert.equal(seen[0]?.url, "/v1/chat/completions");
      assert.equal(seen[0]?.headers["x-org"], "acme");
      assert.equal(seen[0]?.headers.authorization, "Bearer vllm-secret");
      assert.equal(
        seen[0]?.headers["content-type"],
        "application/json",
        "an extra header cannot replace ours",
      );
    } finally {
      await adapter.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
