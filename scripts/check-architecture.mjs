#!/usr/bin/env node
// Part of `npm run lint`: checks the folder-level architecture that a file-level linter cannot
// see (docs/architecture.md, "Folders and layers").
//   1. Folders import each other without a cycle, and never a folder of a higher layer.
//   2. Pure folders import no NATS, HTTP or timer module, and read no clock or randomness.
//   3. A module outside a folder imports that folder through its index.ts.
// It parses each file with the TypeScript compiler (already a dev dependency), so type-only
// imports and re-exports count like any other edge. Prints every violation, exits 1 on any.
// `--graph` prints the folder graph (one line per folder) instead.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

// `--root DIR` checks another tree laid out the same way (the checker's own tests use it).
const rootArgument = process.argv.indexOf("--root");
const repoRoot =
  rootArgument >= 0 ? resolve(process.argv[rootArgument + 1]) : fileURLToPath(new URL("..", import.meta.url));

/**
 * The layers, lowest first. A folder may import folders of its own or a lower layer; within a
 * layer the imports must still form no cycle. Each src/<folder> is a unit; streams/,
 * projections/ and replay/ are units of their own.
 */
const LAYERS = [
  {
    name: "pure domain",
    pure: true,
    folders: [
      "src/errors",
      "src/chat",
      "src/tokens",
      "src/catalog",
      "src/quotas",
      "src/routing",
      "src/events",
      "src/audit",
      "src/cache",
    ],
  },
  {
    name: "adapters",
    folders: ["src/nats", "src/providers", "src/observability", "src/config", "src/access", "src/vault"],
  },
  { name: "topology and projections", folders: ["streams", "projections"] },
  {
    name: "stages and services",
    folders: [
      "src/admission",
      "src/execution",
      "src/extensions",
      "src/health",
      "src/policies",
      "src/tenancy",
      "src/stages",
      "src/gateway",
      "src/notary",
    ],
  },
  { name: "leaves", folders: ["src/runtime", "src/cli", "replay"] },
];

/** Modules a pure folder may not import: I/O, network, timers, process control. */
const IMPURE_MODULES = [
  /^@nats-io\//,
  /^fastify/,
  /^undici/,
  /^node:(http|https|http2|net|dgram|tls|dns|timers|timers\/promises|child_process|worker_threads|perf_hooks)$/,
];
/** Names a pure folder may not import from node:crypto (randomness; hashing is fine). */
const RANDOM_CRYPTO = new Set([
  "randomBytes",
  "randomUUID",
  "randomInt",
  "randomFill",
  "randomFillSync",
  "getRandomValues",
]);

const layerOf = new Map();
LAYERS.forEach((layer, index) => {
  for (const folder of layer.folders) layerOf.set(folder, { index, ...layer });
});

function sourceFiles(dir) {
  return readdirSync(join(repoRoot, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts"))
    .map((entry) =>
      relative(repoRoot, join(entry.parentPath ?? entry.path, entry.name))
        .split(sep)
        .join("/"),
    );
}

/** The architectural unit of a repository path: `src/<folder>`, or the top-level folder. */
function unitOf(path) {
  const parts = path.split("/");
  if (parts[0] === "src") return parts.length > 2 ? `src/${parts[1]}` : "src";
  return parts[0];
}

/** Every import / re-export / dynamic import of a file: the specifier, its names and its line. */
function importsOf(sourceFile) {
  const found = [];
  const lineOf = (node) => sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile)).line + 1;
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      const names = [];
      const bindings = ts.isImportDeclaration(node) ? node.importClause?.namedBindings : node.exportClause;
      if (bindings && (ts.isNamedImports(bindings) || ts.isNamedExports(bindings))) {
        for (const element of bindings.elements) names.push((element.propertyName ?? element.name).text);
      }
      found.push({ specifier: node.moduleSpecifier.text, names, line: lineOf(node) });
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push({ specifier: node.arguments[0].text, names: [], line: lineOf(node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found;
}

/** Reads of the clock or of randomness in a pure file. */
function impureCalls(sourceFile) {
  const found = [];
  const report = (node, what) =>
    found.push({ what, line: sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile)).line + 1 });
  const visit = (node) => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const call = node.expression.getText(sourceFile);
      if (
        ["Date.now", "Math.random", "performance.now", "process.hrtime", "crypto.randomUUID"].includes(call)
      ) {
        report(node, `${call}()`);
      }
    } else if (ts.isNewExpression(node) && node.expression.getText(sourceFile) === "Date") {
      if (!node.arguments || node.arguments.length === 0) report(node, "new Date() (the current time)");
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression)) {
      if (["setTimeout", "setInterval", "setImmediate"].includes(node.expression.text)) {
        report(node, `${node.expression.text}()`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found;
}

function findCycles(graph) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const cycles = [];
  let counter = 0;
  const connect = (node) => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node), low.get(next)));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node), index.get(next)));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) connect(node);
  return cycles;
}

const files = ["src", "streams", "projections", "replay"]
  .filter((dir) => existsSync(join(repoRoot, dir)))
  .flatMap(sourceFiles)
  .sort();
const problems = [];
/** unit → (unit → first "file:line" that imports it) */
const graph = new Map();

for (const file of files) {
  const unit = unitOf(file);
  const layer = layerOf.get(unit);
  if (!layer && unit !== "src") {
    problems.push(`${file}: folder ${unit} has no layer; add it to LAYERS in scripts/check-architecture.mjs`);
    continue;
  }
  const text = readFileSync(join(repoRoot, file), "utf8");
  const sourceFile = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  if (!graph.has(unit)) graph.set(unit, new Map());

  for (const { specifier, names, line } of importsOf(sourceFile)) {
    if (!specifier.startsWith(".")) {
      if (layer?.pure) {
        if (IMPURE_MODULES.some((pattern) => pattern.test(specifier))) {
          problems.push(`${file}:${line}: pure folder ${unit} imports ${specifier}`);
        }
        if (
          (specifier === "node:crypto" || specifier === "crypto") &&
          names.some((n) => RANDOM_CRYPTO.has(n))
        ) {
          problems.push(
            `${file}:${line}: pure folder ${unit} imports randomness (${names.join(", ")}) from ${specifier}`,
          );
        }
      }
      continue;
    }
    const target = relative(repoRoot, resolve(dirname(join(repoRoot, file)), specifier))
      .split(sep)
      .join("/")
      .replace(/\.js$/, ".ts");
    const targetUnit = unitOf(target);
    if (targetUnit === unit) continue;
    const targetLayer = layerOf.get(targetUnit);
    if (!graph.get(unit).has(targetUnit)) graph.get(unit).set(targetUnit, `${file}:${line}`);
    const targetPath = target.endsWith(".ts") ? target : `${target}/index.ts`;
    if (targetUnit !== "src" && targetPath !== `${targetUnit}/index.ts`) {
      problems.push(`${file}:${line}: imports ${target} past ${targetUnit}/index.ts`);
    }
    if (layer && targetLayer && targetLayer.index > layer.index) {
      problems.push(
        `${file}:${line}: ${unit} (${layer.name}) imports ${targetUnit} (${targetLayer.name}), a higher layer; move the shared piece down`,
      );
    }
  }
  if (layer?.pure) {
    for (const { what, line } of impureCalls(sourceFile)) {
      problems.push(`${file}:${line}: pure folder ${unit} reads ${what}; pass time or randomness in`);
    }
  }
}

if (process.argv.includes("--graph")) {
  for (const [unit, targets] of [...graph.entries()].sort()) {
    console.log(`${unit} -> ${[...targets.keys()].sort().join(", ") || "(nothing)"}`);
  }
  process.exit(0);
}

for (const cycle of findCycles(graph)) {
  const edges = cycle.flatMap((from) =>
    cycle
      .filter((to) => graph.get(from)?.has(to))
      .map((to) => `${from} -> ${to} (${graph.get(from).get(to)})`),
  );
  problems.push(`folder cycle: ${cycle.join(", ")}\n    ${edges.join("\n    ")}`);
}

if (problems.length > 0) {
  console.error(`architecture: ${problems.length} problem(s)\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(
  `architecture: ${graph.size} folders, 0 folder cycles, layers respected, pure folders pure, imports through index.ts`,
);
