import { type Logger, pino } from "pino";

export type { Logger } from "pino";

/**
 * Paths that could ever hold a secret are censored by pino itself, so a careless
 * `log.info({ headers })` cannot leak a key. Request bodies are never logged.
 */
const REDACT_PATHS = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  'headers["x-api-key"]',
  '*.headers["x-api-key"]',
  "apiKey",
  "*.apiKey",
  "key",
  "*.key",
  "devKey",
  "*.devKey",
  "natsPassword",
  "*.natsPassword",
  "natsToken",
  "*.natsToken",
  "creds",
  "*.creds",
];

export function createLogger(options: {
  level: string;
  name?: string;
  destination?: NodeJS.WritableStream;
}): Logger {
  return pino(
    {
      level: options.level,
      name: options.name ?? "beamline",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: { pid: process.pid },
    },
    options.destination as never,
  );
}
