#!/usr/bin/env node
// Entry of the `beamline` CLI. Runs the compiled output; `npm install` builds it (the `prepare` script).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/src/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    "beamline: the compiled CLI is missing; run `npm run build` (or `npm install`) first.\n",
  );
  process.exit(1);
}
// Before the router's modules load, which would grow V8's young generation to its full size for
// good; `start` lets it grow to its configured cap, every other command to V8's own rule.
const { holdYoungGeneration } = await import(
  new URL("../dist/src/runtime/young-generation.js", import.meta.url).href
);
holdYoungGeneration();
await import(entry.href);
