import { readFile } from "node:fs/promises";
import { BeamlineError } from "../errors/index.js";
import { type ModelCatalog, parseCatalog } from "./catalog.js";

/** The catalog shipped with Beamline: config/catalog.json at the package root. */
function defaultCatalogUrl(): URL {
  // Compiled code runs from dist/src/catalog, tests from src/catalog: one level apart.
  const toRoot = import.meta.url.includes("/dist/src/") ? "../../../" : "../../";
  return new URL(`${toRoot}config/catalog.json`, import.meta.url);
}

export async function loadCatalogFile(path?: string): Promise<ModelCatalog> {
  const location = path ?? defaultCatalogUrl();
  let text: string;
  try {
    text = await readFile(location, "utf8");
  } catch (error) {
    throw new BeamlineError("BL_CONFIG_INVALID", `cannot read the model catalog ${String(location)}`, {
      cause: error,
    });
  }
  try {
    return parseCatalog(JSON.parse(text));
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new BeamlineError(
        "BL_CONFIG_INVALID",
        `model catalog ${String(location)} is not valid JSON: ${error.message}`,
      );
    }
    throw error;
  }
}
