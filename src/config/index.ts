export { configInputFromEnv, loadConfig, loadConfigFromEnv } from "./load.js";
export type { BeamlineConfig, BeamlineConfigInput, Role } from "./schema.js";
export { configSchema, ROLES } from "./schema.js";
