import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { runCliStatus } from "../support/cli.js";

/**
 * The commands that print data, each with `--json`. `lines`: the format is JSON lines (one
 * document per line), the rest print one JSON document. Arguments name the dev tenant and
 * the request the suite makes (`{request}`).
 */
const DATA_COMMANDS: Array<{ args: string[]; lines?: boolean }> = [
  { args: ["tenants", "list"] },
  { args: ["keys", "list", "--tenant", "dev"] },
  { args: ["producers", "list"] },
  { args: ["providers", "health"] },
  { args: ["catalog", "show"] },
  { args: ["policies", "get", "dev"] },
  { args: ["policies", "history", "dev"] },
  { args: ["extensions", "list"] },
  { args: ["streams", "status"] },
  { args: ["projections", "verify"] },
  { args: ["billing", "reconcile"] },
  { args: ["usage", "export", "--tenant", "dev"], lines: true },
  { args: ["decisions", "verify", "--tenant", "dev"], lines: true },
  { args: ["whatif", "--tenant", "dev", "--catalog", "config/catalog.json"] },
  { args: ["audit", "export", "--tenant", "dev"], lines: true },
  { args: ["requests", "show", "dev", "{request}"], lines: true },
  { args: ["audit", "pubkey"] },
];

/** Runs `tasks` at most `limit` at a time (each is a CLI process on a shared machine). */
async function inBatches<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < tasks.length; i += limit) {
    results.push(...(await Promise.all(tasks.slice(i, i + limit).map((task) => task()))));
  }
  return results;
}

describe("every CLI command that prints data takes --json and prints valid JSON", {
  timeout: 600_000,
}, () => {
  let beamline: TestBeamline;
  let requestId: string;
  before(async () => {
    beamline = await startTestBeamline();
    const client = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    const { response } = await client.chat.completions
      .create({ model: "mock-small", messages: [{ role: "user", content: "hello cli" }] })
      .withResponse();
    requestId = response.headers.get("x-request-id")!;
    await waitForConsumerCaughtUp(beamline.nc, "BL_USAGE", "projector-spend");
  });
  after(async () => beamline?.stop());

  it("prints JSON for each of them", async () => {
    const env = { BEAMLINE_DATA_DIR: beamline.config.dataDir };
    const runs = await inBatches(
      DATA_COMMANDS.map(({ args, lines }) => async () => {
        const argv = [...args.map((arg) => (arg === "{request}" ? requestId : arg)), "--json"];
        return { argv, lines, ...(await runCliStatus(beamline.server.url, argv, env)) };
      }),
      3,
    );
    // Every problem at once: one run of this suite costs a CLI process per command.
    const problems: string[] = [];
    for (const { argv, lines, code, stdout, stderr } of runs) {
      const command = `beamline ${argv.join(" ")}`;
      if (code !== 0) problems.push(`${command} exited ${code}: ${stderr.trim().slice(0, 300)}`);
      else if (stdout.trim().length === 0) problems.push(`${command} printed nothing`);
      else {
        for (const document of lines ? stdout.trim().split("\n") : [stdout]) {
          try {
            JSON.parse(document);
          } catch {
            problems.push(`${command} printed something that is not JSON: ${document.slice(0, 200)}`);
            break;
          }
        }
      }
    }
    assert.deepEqual(problems, []);
  });
});
