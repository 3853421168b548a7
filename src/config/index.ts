export { configInputFromEnv, loadConfig, loadConfigFromEnv } from "./load.js";
export {
  BUILT_IN_PROVIDER_NAMES,
  type ProviderEntry,
  providerSettingsFromEnv,
  resolveProviderKeys,
} from "./providers.js";
export type { BeamlineConfig, BeamlineConfigInput, Role } from "./schema.js";
export { configSchema, ROLES } from "./schema.js";
