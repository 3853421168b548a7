import { readFileSync } from "node:fs";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { Logger } from "../../observability/index.js";
import type { AdminRoutes } from "../admin/index.js";
import type { ConsoleSource } from "./snapshots.js";

/** The console's page; its scripts and styles are under `/console/assets/`. */
export const CONSOLE_PATH = "/console";

/** The files of the console, by the name the page asks for, with their content type. */
const ASSETS: Readonly<Record<string, string>> = {
  "index.html": "text/html; charset=utf-8",
  "console.js": "text/javascript; charset=utf-8",
  "console.css": "text/css; charset=utf-8",
};

/**
 * Scripts, styles and data from this origin only, no inline script, no framing: an injected
 * string in a tenant name cannot run, and the page cannot be overlaid by another site.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The console's static files, read once at start from the package (the folder ships with the
 * sources: no build step, no CDN). From the compiled output the folder is three levels further up.
 */
function loadAssets(): Map<string, Buffer> {
  const toRoot = import.meta.url.includes("/dist/src/") ? "../../../../" : "../../../";
  const folder = new URL(`${toRoot}src/gateway/console/static/`, import.meta.url);
  return new Map(Object.keys(ASSETS).map((name) => [name, readFileSync(new URL(name, folder))]));
}

function sendAsset(reply: FastifyReply, assets: Map<string, Buffer>, name: string): FastifyReply {
  return reply
    .header("content-type", ASSETS[name]!)
    .header("content-security-policy", CONTENT_SECURITY_POLICY)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("cache-control", "no-cache")
    .send(assets.get(name));
}

/**
 * `GET /console` and its assets. The page and its code hold no data and no secret, so they are
 * served without the token (a browser cannot attach a bearer header to a navigation); every
 * piece of data comes from admin routes that check the admin token, which the page keeps in
 * sessionStorage and sends as an `Authorization` header, never in a URL. Not mounted without
 * an admin token: then `/console` answers 404 like the admin API.
 */
export function registerConsolePage(app: FastifyInstance, adminToken: string | undefined): void {
  if (!adminToken) return;
  const assets = loadAssets();
  app.get(CONSOLE_PATH, async (_request, reply) => sendAsset(reply, assets, "index.html"));
  app.get<{ Params: { name: string } }>(`${CONSOLE_PATH}/assets/:name`, async (request, reply) => {
    const name = request.params.name;
    if (!Object.hasOwn(ASSETS, name)) return reply.callNotFound();
    return sendAsset(reply, assets, name);
  });
}

/** How often the live stream sends a snapshot, ms. */
const SNAPSHOT_INTERVAL_MS = 1_000;

/**
 * `GET /admin/v1/console/live`: a `text/event-stream` of `snapshot` events, one now and one a
 * second, until the client leaves or the gateway drains or closes. Behind the admin token like
 * the rest of `/admin/v1`; read with `fetch` (EventSource cannot send the header). A draining
 * gateway ends the stream within a second, so an open console never holds up a graceful stop.
 */
export function consoleLiveRoutes(
  source: ConsoleSource,
  options: { log: Logger; draining: () => boolean },
): AdminRoutes {
  return (admin: FastifyInstance) => {
    admin.get("/console/live", async (_request, reply) => {
      // The first snapshot before the headers: a feed that cannot start is an error answer.
      const first = await source.snapshot();
      reply.hijack();
      reply.raw.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      });
      const send = (snapshot: unknown) =>
        reply.raw.write(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
      send(first);
      let sending = false;
      const timer = setInterval(() => {
        if (options.draining()) return stop();
        if (sending) return;
        sending = true;
        source
          .snapshot()
          .then(send, (error: unknown) => options.log.warn({ err: error }, "console snapshot failed"))
          .finally(() => {
            sending = false;
          });
      }, SNAPSHOT_INTERVAL_MS);
      const stop = () => {
        clearInterval(timer);
        if (!reply.raw.writableEnded) reply.raw.end();
      };
      reply.raw.once("close", stop);
    });
  };
}
