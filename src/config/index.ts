export { type AvailabilitySettings, availabilitySettingsSchema } from "./availability.js";
export { type HttpSettings, httpSettingsSchema } from "./http.js";
export { configInputFromEnv, loadConfig, loadConfigFromEnv, SETTINGS } from "./load.js";
export {
  BUILT_IN_PROVIDER_NAMES,
  type ProviderEntry,
  providerSettingsFromEnv,
  resolveProviderKeys,
} from "./providers.js";
export {
  type ExecutionSettings,
  type ExecutionSettingsInput,
  executionSettingsSchema,
  type HealthSettings,
  type HealthSettingsInput,
  healthSettingsSchema,
} from "./reliability.js";
export type { BeamlineConfig, BeamlineConfigInput, Role } from "./schema.js";
export { configSchema, ROLES } from "./schema.js";
export { type SettingInfo, type SettingMeta, settingsTable } from "./settings.js";
