export type { CatalogDocument, CatalogModel, ModelCatalog } from "./catalog.js";
export { catalogSchema, parseCatalog, withProviders } from "./catalog.js";
export { loadCatalogFile } from "./load.js";
export type { Cost, TokenCounts } from "./pricing.js";
export { computeCost, formatNanoUsd } from "./pricing.js";
