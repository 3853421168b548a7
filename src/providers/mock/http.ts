import type { IncomingMessage, ServerResponse } from "node:http";

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
