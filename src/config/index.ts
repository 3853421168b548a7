export { configInputFromEnv, loadConfig, loadConfigFromEnv } from "./load.js";
export { ROLES, configSchema } from "./schema.js";
export type { BeamlineConfig, BeamlineConfigInput, Role } from "./schema.js";
