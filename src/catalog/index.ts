export { catalogSchema, parseCatalog, withProviders } from "./catalog.js";
export type { CatalogDocument, CatalogModel, ModelCatalog } from "./catalog.js";
export { loadCatalogFile } from "./load.js";
export { computeCost, formatNanoUsd } from "./pricing.js";
export type { Cost, TokenCounts } from "./pricing.js";
