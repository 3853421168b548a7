import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { isLoopbackHost } from "../../src/tenancy/index.js";

interface ComposeService {
  ports?: Array<string | number | { published?: string | number; host_ip?: string }>;
  environment?: Record<string, string> | string[];
}

const compose = parse(readFileSync(new URL("../../docker-compose.yml", import.meta.url), "utf8")) as {
  services: Record<string, ComposeService>;
};

/** A `${VAR:-default}` reference as it resolves with VAR unset, the way a default `docker compose up` sees it. */
function withDefaults(text: string): string {
  return text.replace(/\$\{[A-Z0-9_]+:?-([^}]*)\}/g, "$1");
}

/**
 * The host address a published port binds to, per Compose's port syntax: `[HOST:]HOST_PORT:CONTAINER_PORT`
 * in short form (no host means every interface), `host_ip` in long form. `undefined` = all interfaces.
 */
function hostAddress(port: string | number | { host_ip?: string }): string | undefined {
  if (typeof port === "object") return port.host_ip;
  const text = withDefaults(String(port));
  const bracketed = /^\[([^\]]+)\]:/.exec(text);
  if (bracketed) return bracketed[1];
  const parts = text.split(":");
  return parts.length >= 3 ? parts.slice(0, -2).join(":") : undefined;
}

function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(env.map((line) => [line.split("=")[0], line.split("=").slice(1).join("=")]));
}

describe("docker-compose.yml", () => {
  const services = Object.entries(compose.services);

  it("publishes every port on 127.0.0.1 only", () => {
    const published = services.flatMap(([name, service]) =>
      (service.ports ?? []).map((port) => ({ name, port })),
    );
    assert.ok(published.length >= 3, "the file publishes NATS and the gateway (the parse found the ports)");
    for (const { name, port } of published) {
      const host = hostAddress(port);
      assert.ok(
        host !== undefined && isLoopbackHost(host),
        `${name} publishes ${JSON.stringify(port)} on ${host ?? "every interface"}`,
      );
    }
  });

  it("opts the dev key in to a network address only where every published port is loopback", () => {
    for (const [name, service] of services) {
      const env = environmentOf(service);
      if (withDefaults(env["BEAMLINE_ALLOW_DEV_KEY_ON_NETWORK"] ?? "false") !== "true") continue;
      const hosts = (service.ports ?? []).map(hostAddress);
      assert.ok(
        hosts.every((host) => host !== undefined && isLoopbackHost(host)),
        `${name} opts in while publishing on ${hosts.join(", ")}`,
      );
    }
  });

  it("keeps metrics off the API port", () => {
    const beamline = environmentOf(compose.services["beamline"]!);
    assert.notEqual(
      withDefaults(beamline["BEAMLINE_METRICS_PORT"] ?? "9464"),
      withDefaults(beamline["BEAMLINE_HTTP_PORT"] ?? "8080"),
    );
  });
});
