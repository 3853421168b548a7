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
export type {
  Cost,
  ExtraUsage,
  PricedExtra,
  PricedUsage,
  RecordedPrices,
  TokenCounts,
} from "./pricing.js";
export {
  computeCost,
  discountedCost,
  formatNanoUsd,
  priceExtras,
  priceUsage,
  recordedPrices,
  sumCosts,
} from "./pricing.js";
