import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";

/**
 * docker-compose.yml runs NATS with the same auth model as the embedded server. There is no
 * Docker engine where the tests run, so this reads the file's services as text blocks.
 */
async function services(): Promise<Map<string, string>> {
  const text = await readFile(new URL("../../docker-compose.yml", import.meta.url), "utf8");
  const body = text.slice(
    text.indexOf("\nservices:\n") + "\nservices:\n".length,
    text.indexOf("\nvolumes:\n"),
  );
  const blocks = new Map<string, string>();
  for (const block of body.split(/\n(?= {2}[a-z][a-z-]*:\n)/)) {
    const name = /^\s*([a-z][a-z-]*):/.exec(block)?.[1];
    if (name) blocks.set(name, block);
  }
  return blocks;
}

describe("docker-compose.yml: NATS with auth", () => {
  it("generates the authority first, then starts nats with the generated auth config", async () => {
    const s = await services();
    assert.match(s.get("nats-auth") ?? "", /credentials\n\s+- init/);
    assert.match(s.get("nats") ?? "", /"-c", "\/beamline\/auth\/nats-server\.conf"/);
    assert.match(s.get("nats") ?? "", /nats-auth:\n\s+condition: service_completed_successfully/);
  });

  it("connects the router with its own credential after the admin applied the topology", async () => {
    const s = await services();
    assert.match(s.get("nats-topology") ?? "", /NATS_CREDS: \/app\/\.data\/auth\/creds\/admin\.creds/);
    assert.match(
      s.get("beamline") ?? "",
      /NATS_CREDS: \/app\/\.data\/auth\/creds\/gateway\+worker\+billing\+projector\+notary\.creds/,
    );
    assert.match(s.get("beamline") ?? "", /nats-topology:\n\s+condition: service_completed_successfully/);
  });

  it("publishes NATS ports on loopback only", async () => {
    const nats = (await services()).get("nats") ?? "";
    const ports = [...nats.matchAll(/- "([\d.:]+)"/g)].map((m) => m[1]);
    assert.deepEqual(ports, ["127.0.0.1:4222:4222", "127.0.0.1:8222:8222"]);
  });
});
