import { z } from "zod";
import { setting } from "./settings.js";

/**
 * The HTTP conventions every front door follows (README, "HTTP conventions"): which browser
 * origins may call the API, when a waiting SSE stream sends a keep-alive comment, and from
 * what size a JSON answer is compressed.
 */
export const httpSettingsSchema = z.strictObject({
  corsOrigins: setting(z.array(z.string().min(1)).default([]), {
    env: "BEAMLINE_CORS_ORIGINS",
    doc: "browser origins allowed to call `/v1/…` (e.g. `https://app.example.com`), comma-separated; `*` allows any; empty: no CORS headers, browsers are refused. Admin and metrics are never CORS-exposed",
    defaultDoc: "(none)",
  }),
  sseKeepAliveMs: setting(z.coerce.number().int().min(1_000).default(15_000), {
    env: "BEAMLINE_SSE_KEEPALIVE_MS",
    doc: "a streamed answer that wrote nothing for this long gets a `: keep-alive` comment (also before the first chunk; silence stays under twice this), so proxies do not cut a slow stream",
  }),
  compressMinBytes: setting(z.coerce.number().int().nonnegative().default(1_024), {
    env: "BEAMLINE_COMPRESS_MIN_BYTES",
    doc: "a JSON answer at least this large is compressed (gzip, or br) when the client accepts it; SSE streams never are",
  }),
});

export type HttpSettings = Readonly<z.infer<typeof httpSettingsSchema>>;
