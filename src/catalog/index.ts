export type {
  Capability,
  CatalogDocument,
  CatalogDocumentInput,
  CatalogModel,
  ModelCatalog,
  ModelKind,
} from "./catalog.js";
export {
  CapabilityNames,
  catalogSchema,
  isModelInScope,
  ModelKinds,
  parseCatalog,
  withProviders,
} from "./catalog.js";
export { loadCatalogFile } from "./load.js";
export type { Cost, PricedUsage, TokenCounts } from "./pricing.js";
export { computeCost, discountedCost, formatNanoUsd, priceUsage } from "./pricing.js";
