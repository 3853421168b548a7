import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as delay } from "node:timers/promises";

/** Largest request body the mock reads, in bytes. */
export const MAX_MOCK_BODY_BYTES = 16 * 1024 * 1024;

/** Writes a whole JSON answer. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "content-type": "application/json",
    ...headers,
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

/** The request body, or undefined when it is larger than {@link MAX_MOCK_BODY_BYTES}. */
export function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (part: Buffer) => {
      size += part.length;
      if (size <= MAX_MOCK_BODY_BYTES) parts.push(part);
    });
    req.on("end", () => resolve(size <= MAX_MOCK_BODY_BYTES ? Buffer.concat(parts, size) : undefined));
    req.on("error", reject);
  });
}

/**
 * Keeps the exchange open, sending nothing more, until the client closes it or `closing`
 * aborts; then destroys the socket. Used for "hang before headers" and "stall mid-stream".
 */
export async function holdOpen(res: ServerResponse, closing: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      closing.removeEventListener("abort", done);
      resolve();
    };
    if (closing.aborted) return resolve();
    closing.addEventListener("abort", done, { once: true });
    res.once("close", done);
  });
  res.destroy();
}

/** Writes `data`, then destroys the socket once the bytes reached it (a cut the client sees after them). */
export function cutAfter(res: ServerResponse, data: string): void {
  res.write(data, () => res.socket?.destroy());
}

/** How a mock wire spaces its streamed frames. */
export interface FramePacing {
  chunkDelayMs: number;
  beforeChunk?: ((index: number) => Promise<void> | undefined) | undefined;
  closing: AbortSignal;
}

/**
 * Waits before streamed frame `index` (the chunk delay after the first, then the test's
 * `beforeChunk`); false when the client has gone meanwhile and nothing more should be written.
 */
export async function readyForFrame(
  res: ServerResponse,
  index: number,
  pacing: FramePacing,
): Promise<boolean> {
  if (index > 0 && pacing.chunkDelayMs > 0)
    await delay(pacing.chunkDelayMs, undefined, { signal: pacing.closing });
  if (pacing.beforeChunk !== undefined) await pacing.beforeChunk(index);
  return !res.destroyed;
}
