import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CatalogDocumentInput, type ModelCatalog, parseCatalog } from "../../src/catalog/index.js";

/** One model of a test catalog: Beamline's id, the provider, and the name that provider knows. */
export interface TestModel {
  id: string;
  provider: string;
  upstreamModel: string;
  /** The model's longest answer, in tokens; absent means unbounded but for the context window. */
  maxOutputTokens?: number;
}

/** Prices of every test model, per million tokens: simple numbers so costs are easy to check. */
export const TEST_MODEL_PRICES = { inputPerMTokUsd: 1, outputPerMTokUsd: 2, cachedInputPerMTokUsd: 0.5 };

/** A catalog file written for one test (pass `path` as `catalogFile`); `remove` deletes it. */
export interface TestCatalogFile {
  path: string;
  remove(): Promise<void>;
}

/**
 * Writes a catalog of `models` to a fresh temporary directory. Every model can use tools and
 * stream, and has the same prices, so routing never excludes one for a capability or cost.
 */
export async function writeTestCatalog(
  version: string,
  models: readonly TestModel[],
): Promise<TestCatalogFile> {
  const document: CatalogDocumentInput = {
    version,
    models: models.map((model) => ({
      ...model,
      prices: TEST_MODEL_PRICES,
      contextWindow: 128_000,
      capabilities: { tools: true, vision: false, jsonMode: true, streaming: true },
    })),
  };
  const dir = await mkdtemp(join(tmpdir(), "beamline-catalog-"));
  const path = join(dir, "catalog.json");
  await writeFile(path, JSON.stringify(document));
  return { path, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes a whole catalog document (models of any kind, own prices) to a fresh temporary directory. */
export async function writeCatalogDocument(document: CatalogDocumentInput): Promise<TestCatalogFile> {
  const dir = await mkdtemp(join(tmpdir(), "beamline-catalog-"));
  const path = join(dir, "catalog.json");
  await writeFile(path, JSON.stringify(document));
  return { path, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Two mock models with one alias each (`fast` → mock-small, `smart` → mock-large), for unit tests of model access. */
export const FAST_AND_SMART_CATALOG = {
  version: "t1",
  models: [
    {
      id: "mock-small",
      provider: "mock",
      upstreamModel: "s",
      aliases: ["fast"],
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 1 },
    },
    {
      id: "mock-large",
      provider: "mock",
      upstreamModel: "l",
      aliases: ["smart"],
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 1 },
    },
  ],
} satisfies CatalogDocumentInput;

/**
 * A catalog of one model, `priced`, at 1 USD per million prompt tokens and 2 per million
 * completion tokens (no cached price): 100 prompt + 100 max tokens estimate 300,000 nano-USD.
 * For quota and spend arithmetic that a test or benchmark checks by hand.
 */
export function pricedCatalog(version = "test-1"): ModelCatalog {
  return parseCatalog({
    version,
    models: [
      {
        id: "priced",
        provider: "mock",
        upstreamModel: "priced",
        prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 },
      },
    ],
  });
}
