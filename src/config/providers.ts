import { readFileSync } from "node:fs";
import { z } from "zod";
import { BeamlineError } from "../errors/index.js";
import { setting } from "./settings.js";

/**
 * Configuration of the providers beyond the built-in mock and OpenAI: Gemini (from
 * GEMINI_API_KEY / GEMINI_BASE_URL) and any number of named providers given as JSON in
 * BEAMLINE_PROVIDERS or in the file BEAMLINE_PROVIDERS_FILE. A provider entry never holds a
 * key: it names the environment variable that does (`apiKeyEnv`), resolved at start-up.
 */

/** Names the built-in providers take; a configured provider may not reuse them. */
export const BUILT_IN_PROVIDER_NAMES: ReadonlySet<string> = new Set([
  "mock",
  "openai",
  "gemini",
  "anthropic",
]);

const providerName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,62}$/,
    "must be 1-63 lower-case letters, digits, - or _ (it is a NATS subject token)",
  )
  .refine((name) => !BUILT_IN_PROVIDER_NAMES.has(name), {
    error: "is the name of a built-in provider; pick another",
  });
const envVarName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    "must be the NAME of an environment variable holding the key, e.g. GROQ_API_KEY",
  );
const positiveMs = z.number().int().positive();

/** An API that speaks OpenAI's chat completions: vLLM, Ollama, Groq, Together, Mistral, DeepSeek, … */
const openAiCompatibleSchema = z.strictObject({
  kind: z.literal("openai-compatible"),
  name: providerName,
  /** Base URL up to and including the version segment; `/chat/completions` is appended. */
  baseUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
  /** Environment variable holding the key, sent as a bearer token; omit for keyless local servers. */
  apiKeyEnv: envVarName.optional(),
  /** Extra request headers (organisation, project, routing hints). Not for secrets. */
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9-]+$/, "must be a header name"), z.string())
    .refine((headers) => !Object.keys(headers).some((name) => /^authorization$/i.test(name)), {
      error: "must not set authorization; name the key's environment variable in apiKeyEnv",
    })
    .optional(),
});

/** A custom provider served over NATS request-reply (docs/providers.md). */
const natsServiceSchema = z.strictObject({
  kind: z.literal("nats-service"),
  name: providerName,
  /** Subject the service listens on. Default `bl.provider.<name>`. */
  subject: z
    .string()
    .regex(/^[^\s*>]+$/, "must be a literal subject")
    .optional(),
  /** Deadline of a whole call, in milliseconds. Default 120 000. */
  timeoutMs: positiveMs.optional(),
  /** Longest silence of a stream, in milliseconds. Default 30 000. */
  idleTimeoutMs: positiveMs.optional(),
});

const providerEntrySchema = z.preprocess(
  (value, context) => {
    if (typeof value === "object" && value !== null && "apiKey" in value) {
      // The value is not quoted: it is a secret in the wrong place.
      context.addIssue({
        code: "custom",
        message:
          "holds apiKey; keys never go in provider configuration: set apiKeyEnv to the NAME of an environment variable",
      });
    }
    return value;
  },
  z.discriminatedUnion("kind", [openAiCompatibleSchema, natsServiceSchema], {
    error: 'kind must be "openai-compatible" or "nats-service"',
  }),
);

/** The providers list: an array, or the JSON text of one (from the environment). */
export const providersSchema = z
  .preprocess((value, context) => {
    if (typeof value !== "string") return value;
    try {
      return JSON.parse(value);
    } catch {
      context.addIssue({
        code: "custom",
        message: "is not valid JSON (expected an array of provider objects)",
      });
      return z.NEVER;
    }
  }, z.array(providerEntrySchema))
  .superRefine((entries, context) => {
    // Runs only once every entry is valid on its own.
    const seen = new Set<string>();
    entries.forEach((entry, index) => {
      if (seen.has(entry.name)) {
        context.addIssue({
          code: "custom",
          path: [index, "name"],
          message: `"${entry.name}" is configured twice`,
        });
      }
      seen.add(entry.name);
    });
  })
  .default([]);

export type ProviderEntry = z.infer<typeof openAiCompatibleSchema> | z.infer<typeof natsServiceSchema>;

/** Google Gemini: registered when `apiKey` is set. */
export const geminiConfigSchema = z
  .strictObject({
    apiKey: setting(z.string().min(1).optional(), {
      env: "GEMINI_API_KEY",
      doc: "enables the `gemini` provider",
    }),
    baseUrl: setting(
      z.url({ protocol: /^https?$/ }).default("https://generativelanguage.googleapis.com/v1beta"),
      {
        env: "GEMINI_BASE_URL",
        doc: "the `gemini` provider's URL",
      },
    ),
  })
  .prefault({});

/**
 * The providers list from the environment: BEAMLINE_PROVIDERS (JSON) or the file named by
 * BEAMLINE_PROVIDERS_FILE (read here). Setting both, or a file that cannot be read, is a
 * `BL_CONFIG_INVALID` error. The other provider settings are read through the schema.
 */
export function providerSettingsFromEnv(env: NodeJS.ProcessEnv): { providers?: string } {
  const settings: { providers?: string } = {};
  const inline = env["BEAMLINE_PROVIDERS"];
  const file = env["BEAMLINE_PROVIDERS_FILE"];
  if (inline && file) {
    throw new BeamlineError(
      "BL_CONFIG_INVALID",
      "configuration is invalid: set BEAMLINE_PROVIDERS or BEAMLINE_PROVIDERS_FILE, not both",
    );
  }
  if (!file) {
    if (inline) settings.providers = inline;
    return settings;
  }
  try {
    settings.providers = readFileSync(file, "utf8");
    return settings;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new BeamlineError(
      "BL_CONFIG_INVALID",
      `configuration is invalid: BEAMLINE_PROVIDERS_FILE ${file} cannot be read (${typeof code === "string" ? code : "unknown error"})`,
      { cause: error },
    );
  }
}

/**
 * The key of each provider entry that names one, read from `env`. Every missing variable is
 * reported in one `BL_CONFIG_INVALID` error; the values never appear in it.
 */
export function resolveProviderKeys(
  entries: readonly ProviderEntry[],
  env: NodeJS.ProcessEnv,
): ReadonlyMap<string, string> {
  const keys = new Map<string, string>();
  const problems: string[] = [];
  for (const entry of entries) {
    if (entry.kind !== "openai-compatible" || entry.apiKeyEnv === undefined) continue;
    const key = env[entry.apiKeyEnv];
    if (key === undefined || key.length === 0) {
      problems.push(
        `  - providers.${entry.name}: environment variable ${entry.apiKeyEnv} (its apiKeyEnv) is not set`,
      );
    } else {
      keys.set(entry.name, key);
    }
  }
  if (problems.length > 0) {
    throw new BeamlineError("BL_CONFIG_INVALID", `configuration is invalid:\n${problems.join("\n")}`);
  }
  return keys;
}
