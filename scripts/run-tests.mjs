#!/usr/bin/env node
// The test command (`npm test`). Runs every test/<tier>/**/*.test.ts with Node's test runner, or
// only the tiers named: `node scripts/run-tests.mjs unit integration`. The cluster tier runs
// last, one file at a time, after the others have finished. Arguments starting with
// "-" go to the test runner as they are, e.g. `--test-name-pattern=cluster`.
// Before that it makes sure a nats-server binary exists (scripts/nats-server.sh may fetch one)
// and hands its path to the test processes as BEAMLINE_NATS_SERVER.
import { execFileSync, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const testRoot = join(repoRoot, "test");
/** Helpers shared by the tiers, not a tier of its own. */
const notTiers = new Set(["support"]);
/**
 * Tiers that run after the others, one file at a time, with the machine to themselves: the
 * cluster fault suite runs a 3-node NATS cluster and seven Beamline processes per file, and
 * its 5 s answer bar is a latency figure that a test file running beside it would spoil.
 */
const aloneTiers = new Set(["cluster"]);
const args = process.argv.slice(2);
const runnerOptions = args.filter((arg) => arg.startsWith("-"));
const requestedTiers = args.filter((arg) => !arg.startsWith("-"));

function fail(message) {
  console.error(`run-tests: ${message}`);
  process.exit(1);
}

const tiers = readdirSync(testRoot, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && !notTiers.has(entry.name))
  .map((entry) => entry.name)
  .sort();
const unknownTiers = requestedTiers.filter((tier) => !tiers.includes(tier));
if (unknownTiers.length > 0) {
  fail(`unknown test tier(s) ${unknownTiers.join(", ")}; the tiers are: ${tiers.join(", ")}`);
}

// Node 20's test runner expands no globs, so the files are listed here, in a stable order.
const filesOf = (tierNames) =>
  tierNames
    .flatMap((tier) =>
      readdirSync(join(testRoot, tier), { recursive: true })
        .filter((path) => path.endsWith(".test.ts"))
        .map((path) => relative(repoRoot, join(testRoot, tier, path))),
    )
    .sort();
const chosen = requestedTiers.length > 0 ? requestedTiers : tiers;
const files = filesOf(chosen.filter((tier) => !aloneTiers.has(tier)));
const aloneFiles = filesOf(chosen.filter((tier) => aloneTiers.has(tier)));
if (files.length === 0 && aloneFiles.length === 0) {
  fail(
    `no test files (*.test.ts) under test/${requestedTiers.length > 0 ? `{${requestedTiers.join(",")}}` : ""}`,
  );
}

let natsServer;
try {
  natsServer = execFileSync("bash", [join(repoRoot, "scripts", "nats-server.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
} catch {
  fail("no usable nats-server binary (see above); the integration and fault tiers need one");
}

let current;
/** Set by SIGINT/SIGTERM: the runner in progress is told, and no later phase starts. */
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    interrupted = true;
    current?.kill(signal);
  });
}

/** Runs one test runner over `list` and resolves with its exit code. */
function runTests(list, runnerFlags) {
  return new Promise((resolve) => {
    current = spawn(
      process.execPath,
      ["--import", "tsx", "--test", ...runnerFlags, ...runnerOptions, ...list],
      {
        cwd: repoRoot,
        stdio: "inherit",
        env: { ...process.env, BEAMLINE_NATS_SERVER: natsServer },
      },
    );
    current.on("exit", (code, signal) => {
      if (signal) console.error(`run-tests: the test runner ended on ${signal}`);
      resolve(code ?? 1);
    });
  });
}

// The timeout bounds each test and each file as a whole: a fault file that kills and restarts
// processes five times takes about two minutes on a 2-core machine running another file beside
// it, so the bound is four. A cluster file runs alone and gets twenty (it measured three to
// five minutes on a quiet 2-core machine).
let code = 0;
if (files.length > 0) code = await runTests(files, ["--test-concurrency=2", "--test-timeout=240000"]);
if (aloneFiles.length > 0 && !interrupted) {
  const aloneCode = await runTests(aloneFiles, ["--test-concurrency=1", "--test-timeout=1200000"]);
  code ||= aloneCode;
}
process.exit(code);
