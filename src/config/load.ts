import { BeamlineError } from "../errors/index.js";
import { providerSettingsFromEnv } from "./providers.js";
import { type BeamlineConfig, type BeamlineConfigInput, configSchema } from "./schema.js";
import { inputFromEnv, type SettingInfo, settingsOf } from "./settings.js";

/** Every setting and its environment variable, read off the schema (docs/operations.md lists them). */
export const SETTINGS: readonly SettingInfo[] = Object.freeze(settingsOf(configSchema));

/** Turns environment variables into the (unvalidated) config input shape. */
export function configInputFromEnv(env: NodeJS.ProcessEnv): BeamlineConfigInput {
  const input = inputFromEnv(SETTINGS, env);
  Object.assign(input, providerSettingsFromEnv(env));
  return input as BeamlineConfigInput;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses and freezes the configuration. Every problem is reported in one error
 * (`BL_CONFIG_INVALID`) so an operator fixes them in one go. Secrets are never echoed.
 */
export function loadConfig(input: BeamlineConfigInput): BeamlineConfig {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `  - ${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new BeamlineError("BL_CONFIG_INVALID", `configuration is invalid:\n${problems.join("\n")}`);
  }
  return deepFreeze(parsed.data);
}

/** `loadConfig` over the process environment, with overrides (tests, CLI flags) on top. */
export function loadConfigFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<BeamlineConfigInput> = {},
): BeamlineConfig {
  const merged: Record<string, unknown> = { ...configInputFromEnv(env) };
  // Sections (mock, execution, ...) merge field by field; everything else is replaced.
  for (const [key, value] of Object.entries(overrides)) {
    const current = merged[key];
    merged[key] = isPlainObject(current) && isPlainObject(value) ? { ...current, ...value } : value;
  }
  return loadConfig(merged as BeamlineConfigInput);
}
