import { z } from "zod";
import { setting } from "./settings.js";

const positiveMs = z.coerce.number().int().positive();

/**
 * How the gateway behaves when NATS is slow or gone, how long a retry with the same
 * `Idempotency-Key` returns the original outcome, and how long a stopping process lets
 * in-flight work finish (docs/reliability.md, "NATS outages, idempotent retries and drain").
 */
export const availabilitySettingsSchema = z.strictObject({
  appendTimeoutMs: setting(positiveMs.default(2_000), {
    env: "BEAMLINE_APPEND_TIMEOUT_MS",
    doc: "longest the gateway waits to store `request.accepted` before answering 503 `BL_NATS_UNAVAILABLE` (stage workers keep retrying for 30 s)",
  }),
  idempotencyWindowMs: setting(positiveMs.default(24 * 60 * 60_000), {
    env: "BEAMLINE_IDEMPOTENCY_WINDOW_MS",
    doc: "how long an `Idempotency-Key` returns its original request's outcome; a key older than this is refused (422); keep it under the request retention",
  }),
  drainTimeoutMs: setting(positiveMs.default(30_000), {
    env: "BEAMLINE_DRAIN_TIMEOUT_MS",
    doc: "on SIGTERM/SIGINT, how long in-flight requests, streams and stage messages may take to finish before the process stops anyway",
  }),
});

export type AvailabilitySettings = Readonly<z.infer<typeof availabilitySettingsSchema>>;
