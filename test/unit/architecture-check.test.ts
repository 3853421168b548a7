import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const checker = fileURLToPath(new URL("../../scripts/check-architecture.mjs", import.meta.url));
const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** Writes a small tree (path → source) and runs the checker on it. */
function check(tree: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), "bl-arch-"));
  roots.push(root);
  for (const [path, source] of Object.entries(tree)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), source);
  }
  const run = spawnSync(process.execPath, [checker, "--root", root], { encoding: "utf8" });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe("architecture check (part of npm run lint)", () => {
  test("the repository passes", () => {
    const run = spawnSync(process.execPath, [checker], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /0 folder cycles/);
  });

  test("docs/architecture.md shows the folder graph the code has", () => {
    const run = spawnSync(process.execPath, [checker, "--graph"], { encoding: "utf8" });
    const doc = readFileSync(fileURLToPath(new URL("../../docs/architecture.md", import.meta.url)), "utf8");
    const block = /```folder-graph\n([\s\S]*?)\n```/.exec(doc)?.[1];
    assert.ok(block, "docs/architecture.md has no folder-graph block");
    assert.equal(block, run.stdout.trim(), "refresh the block with `npm run lint:graph`");
  });

  test("a layer-respecting tree passes", () => {
    const run = check({
      "src/events/index.ts": 'import { x } from "../chat/index.js";\nexport const y = x;\n',
      "src/chat/index.ts": "export const x = 1;\n",
      "src/stages/index.ts": 'import { y } from "../events/index.js";\nexport const z = y;\n',
    });
    assert.equal(run.status, 0, run.output);
  });

  test("a folder cycle fails and names its edges", () => {
    const run = check({
      "src/stages/index.ts": 'import { b } from "../gateway/index.js";\nexport const a = b;\n',
      "src/gateway/index.ts":
        'import type { a } from "../stages/index.js";\nexport const b = 1 as unknown as typeof a;\n',
    });
    assert.equal(run.status, 1);
    assert.match(run.output, /folder cycle: src\/gateway, src\/stages/);
    assert.match(run.output, /src\/gateway -> src\/stages \(src\/gateway\/index\.ts:1\)/);
  });

  test("an import of a higher layer fails", () => {
    const run = check({
      "src/events/index.ts": 'import { s } from "../stages/index.js";\nexport const e = s;\n',
      "src/stages/index.ts": "export const s = 1;\n",
    });
    assert.equal(run.status, 1);
    assert.match(
      run.output,
      /src\/events \(pure domain\) imports src\/stages \(stages and services\), a higher layer/,
    );
  });

  test("a pure folder importing NATS or reading the clock or randomness fails", () => {
    const run = check({
      "src/routing/a.ts": 'import { connect } from "@nats-io/transport-node";\nexport const c = connect;\n',
      "src/routing/b.ts": "export const now = () => Date.now();\nexport const at = () => new Date();\n",
      "src/routing/c.ts":
        'import { randomBytes, createHash } from "node:crypto";\nexport { randomBytes, createHash };\n',
      "src/routing/d.ts": "export const parsed = new Date(0);\nexport const r = () => Math.random();\n",
    });
    assert.equal(run.status, 1);
    assert.match(
      run.output,
      /src\/routing\/a\.ts:1: pure folder src\/routing imports @nats-io\/transport-node/,
    );
    assert.match(run.output, /src\/routing\/b\.ts:1: .*Date\.now\(\)/);
    assert.match(run.output, /src\/routing\/b\.ts:2: .*new Date\(\)/);
    assert.match(run.output, /src\/routing\/c\.ts:1: .*randomness/);
    assert.match(run.output, /src\/routing\/d\.ts:2: .*Math\.random\(\)/);
    assert.doesNotMatch(run.output, /d\.ts:1:/);
  });

  test("an import past a folder's index.ts fails", () => {
    const run = check({
      "src/events/index.ts": 'import { x } from "../chat/wire.js";\nexport const y = x;\n',
      "src/chat/index.ts": 'export { x } from "./wire.js";\n',
      "src/chat/wire.ts": "export const x = 1;\n",
    });
    assert.equal(run.status, 1);
    assert.match(
      run.output,
      /src\/events\/index\.ts:1: imports src\/chat\/wire\.ts past src\/chat\/index\.ts/,
    );
  });

  test("a folder with no layer fails", () => {
    const run = check({ "src/mystery/index.ts": "export const m = 1;\n" });
    assert.equal(run.status, 1);
    assert.match(run.output, /folder src\/mystery has no layer/);
  });
});
