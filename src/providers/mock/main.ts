/**
 * Runs the mock provider in its own process (for benchmarks, so it does not share a core
 * with the router). Configured from the environment; prints its base URL on one line of
 * stdout once listening; stops on SIGINT/SIGTERM.
 *
 * - `MOCK_HOST` (default `127.0.0.1`), `MOCK_PORT` (default 0: a free port)
 * - `MOCK_LATENCY_MS`, `MOCK_CHUNK_DELAY_MS` (milliseconds, default 0)
 * - `MOCK_CHUNKS` (streamed chunks per answer, default 4)
 * - `MOCK_FAILURE_RATE` (0..1, default 0), `MOCK_SEED` (default 1)
 * - `MOCK_SLOW_RATE` (0..1, default 0) of answers delayed `MOCK_SLOW_DELAY_MS` more (default 2000)
 * - `MOCK_API_KEY` (when set, required as a bearer token)
 */
import { z } from "zod";
import { startMockProvider } from "./server.js";

const envSchema = z.object({
  MOCK_HOST: z.string().min(1).default("127.0.0.1"),
  MOCK_PORT: z.coerce.number().int().min(0).max(65_535).default(0),
  MOCK_LATENCY_MS: z.coerce.number().int().nonnegative().default(0),
  MOCK_CHUNK_DELAY_MS: z.coerce.number().int().nonnegative().default(0),
  MOCK_CHUNKS: z.coerce.number().int().positive().default(4),
  MOCK_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  MOCK_SLOW_RATE: z.coerce.number().min(0).max(1).default(0),
  MOCK_SLOW_DELAY_MS: z.coerce.number().int().nonnegative().default(2_000),
  MOCK_SEED: z.coerce.number().int().default(1),
  MOCK_API_KEY: z.string().min(1).optional(),
});

const parsed = envSchema.safeParse(process.env);
if (!parsed.success) {
  const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  process.stderr.write(`Invalid mock provider environment:\n  ${problems.join("\n  ")}\n`);
  process.exit(1);
}
const env = parsed.data;

const mock = await startMockProvider({
  host: env.MOCK_HOST,
  port: env.MOCK_PORT,
  latencyMs: env.MOCK_LATENCY_MS,
  chunkDelayMs: env.MOCK_CHUNK_DELAY_MS,
  chunks: env.MOCK_CHUNKS,
  failureRate: env.MOCK_FAILURE_RATE,
  slowRate: env.MOCK_SLOW_RATE,
  slowDelayMs: env.MOCK_SLOW_DELAY_MS,
  seed: env.MOCK_SEED,
  ...(env.MOCK_API_KEY === undefined ? {} : { apiKey: env.MOCK_API_KEY }),
});
process.stdout.write(`${mock.url}\n`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    mock.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
