export { CATALOG_SUBJECT, publishCatalog, readPublishedCatalog } from "./catalog-store.js";
export { catalogVersions } from "./catalog-versions.js";
export type { PolicyHistoryEntry } from "./history.js";
export { readPolicyHistory, readPolicyVersion } from "./history.js";
export { policySubject, publishPolicy } from "./publish.js";
export type { ConfigViews } from "./runtime.js";
export { startConfigViews } from "./runtime.js";
export type { PolicyView } from "./view.js";
export { watchPolicies } from "./view.js";
