import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import ts from "typescript";

/**
 * Compiles a baseline process's script (the chain worker, the skeleton) and the modules it
 * imports to plain JavaScript under `bench/out/baselines/`, so the baseline runs on bare
 * node as the router runs `dist/`. Run under tsx instead, a process carries tsx's loader and
 * its transform state: 45 MB more RSS for an empty script, which made the skeleton's memory
 * no floor for the router's. Type-checking is `npm run lint`'s job; this only strips types.
 * Returns the compiled script's path.
 */
export function buildBaseline(repoRoot: string, script: string): string {
  const benchDir = join(repoRoot, "bench");
  const outDir = join(benchDir, "out", "baselines");
  const pending = [join(benchDir, script)];
  const done = new Set<string>();
  while (pending.length > 0) {
    const source = pending.pop()!;
    if (done.has(source)) continue;
    done.add(source);
    const text = readFileSync(source, "utf8");
    const output = ts.transpileModule(text, {
      fileName: source,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    });
    // Laid out as in the repository, so a bench module's import of a router module (`../src/…`)
    // finds its compiled copy.
    const target = join(outDir, relative(repoRoot, source)).replace(/\.ts$/, ".js");
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, output.outputText);
    // Relative value imports (side-effect imports included) are modules to compile too;
    // `import type` lines are gone from the output, so only what runs is followed.
    for (const match of output.outputText.matchAll(
      /^\s*(?:import|export)\b[^'"]*?(?:from\s+)?["'](\.[^"']+)\.js["']/gm,
    )) {
      pending.push(join(dirname(source), `${match[1]}.ts`));
    }
  }
  return join(outDir, "bench", script.replace(/\.ts$/, ".js"));
}
