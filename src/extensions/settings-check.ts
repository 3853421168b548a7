import type { Pipeline } from "../routing/index.js";
import { findBuiltin } from "./builtins/index.js";
import { extensionRef } from "./types.js";

/**
 * Problems with the built-in steps of a pipeline (unknown stage, invalid settings, unsafe
 * regexes), for whoever stores a tenant's policy to refuse it up front instead of letting
 * requests hit the step's failure mode. External steps are checked by their service.
 */
export function builtinSettingsProblems(pipeline: Pipeline): string[] {
  const problems: string[] = [];
  for (const stage of ["pre", "validate", "post"] as const) {
    pipeline[stage].forEach((step, index) => {
      const ext = findBuiltin(step.name, step.version);
      if (ext === undefined) return;
      const where = `${stage}[${index}] ${extensionRef(step.name, step.version)}`;
      if (!ext.stages.includes(stage)) problems.push(`${where}: does not run in the ${stage} stage`);
      try {
        ext.parseSettings(step.settings);
      } catch (error) {
        problems.push(`${where}: ${(error as Error).message}`);
      }
    });
  }
  return problems;
}
