import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One chat call that reached the upstream through the proxy. */
export interface UpstreamCall {
  /** The request's `model` (the upstream model name the adapter sent). */
  model: string;
  /** The text of the last message: tests put a unique marker there to follow one request. */
  marker: string;
  /** The HTTP status the upstream answered. */
  status: number;
}

/**
 * A transparent HTTP proxy in front of the mock provider that records every chat call, so a
 * test can count what a provider really received (and from which Beamline instance, with one
 * proxy per instance). `failing` upstream models are answered by the mock's own 500 fault
 * (the `x-mock-fault` header), so an outage can start and end while everything keeps running.
 */
export interface CountingUpstream {
  /** Base URL ending in `/v1`, for `BEAMLINE_MOCK_URL`. */
  readonly url: string;
  readonly calls: UpstreamCall[];
  /** Upstream models that answer 500 while listed here. */
  readonly failing: Set<string>;
  callsFor(marker: string): UpstreamCall[];
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function markerOf(body: { messages?: Array<{ content?: unknown }> }): string {
  const content = body.messages?.at(-1)?.content;
  return typeof content === "string" ? content : JSON.stringify(content ?? "");
}

/** Starts a proxy to `mockUrl` (the mock's base URL ending in `/v1`) on a free loopback port. */
export async function startCountingUpstream(mockUrl: string): Promise<CountingUpstream> {
  const calls: UpstreamCall[] = [];
  const failing = new Set<string>();
  const target = new URL(mockUrl);
  const server: Server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const headers: Record<string, string> = { "content-type": "application/json" };
      let call: Omit<UpstreamCall, "status"> | undefined;
      if (request.method === "POST" && body.length > 0) {
        const parsed = JSON.parse(body.toString("utf8")) as { model?: string; messages?: [] };
        call = { model: parsed.model ?? "", marker: markerOf(parsed) };
        if (failing.has(call.model)) headers["x-mock-fault"] = "500";
      }
      const path = (request.url ?? "/").replace(/^\/v1/, "");
      const answer = await fetch(`${target.origin}${target.pathname}${path}`, {
        method: request.method ?? "GET",
        headers,
        ...(body.length > 0 ? { body } : {}),
      });
      const text = await answer.text();
      if (call) calls.push({ ...call, status: answer.status });
      response.writeHead(answer.status, {
        "content-type": answer.headers.get("content-type") ?? "application/json",
      });
      response.end(text);
    })().catch((error: Error) => {
      response.writeHead(502, { "content-type": "text/plain" });
      response.end(`counting upstream: ${error.message}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    failing,
    callsFor: (marker) => calls.filter((call) => call.marker === marker),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
