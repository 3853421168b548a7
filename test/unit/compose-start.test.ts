import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

interface ComposeService {
  image?: string;
  build?: string | { context?: string };
  profiles?: string[];
  restart?: string;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
}

const root = new URL("../../", import.meta.url);
const composeText = readFileSync(new URL("docker-compose.yml", root), "utf8");
const compose = parse(composeText) as { services: Record<string, ComposeService> };
const dockerfile = readFileSync(new URL("Dockerfile", root), "utf8");

/**
 * The executables each image the compose file uses is known to hold. Built images: the
 * Dockerfile's base, node:*-slim (Debian slim: node and a POSIX sh, no curl, no wget). nats:*
 * is built FROM scratch with the nats-server binary alone: no shell. prom/prometheus is a
 * busybox image with prometheus and promtool. grafana/grafana runs no probe here.
 */
const IMAGE_EXECUTABLES: Array<{ image: RegExp; executables: string[] }> = [
  { image: /^node:\d+(\.\d+)*-slim$/, executables: ["node", "npm", "sh"] },
  { image: /^nats:\d+\.\d+\.\d+$/, executables: ["nats-server"] },
  { image: /^prom\/prometheus:v\d+\.\d+\.\d+$/, executables: ["prometheus", "promtool", "sh", "wget"] },
  { image: /^grafana\/grafana:\d+\.\d+\.\d+$/, executables: ["grafana", "sh"] },
];

/** The image a service runs: its `image`, or for a built service the Dockerfile's base image. */
function imageOf(service: ComposeService): string {
  if (service.image) return service.image;
  const from = /^FROM\s+(\S+)/m.exec(dockerfile);
  assert.ok(from, "the Dockerfile has a FROM line");
  return from[1]!;
}

function executablesOf(image: string): string[] {
  const known = IMAGE_EXECUTABLES.find((entry) => entry.image.test(image));
  assert.ok(known, `no known contents for image ${image}: add it to IMAGE_EXECUTABLES`);
  return known.executables;
}

/** The program a healthcheck runs: CMD's first word, or `sh` for CMD-SHELL and a plain string. */
function healthcheckProgram(test: string | string[]): string | undefined {
  if (typeof test === "string") return "sh";
  const [kind, first] = test;
  if (kind === "NONE") return undefined;
  if (kind === "CMD-SHELL") return "sh";
  assert.equal(kind, "CMD", `healthcheck test ${JSON.stringify(test)}`);
  return first;
}

function dependenciesOf(service: ComposeService): Array<{ name: string; condition: string }> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return deps.map((name) => ({ name, condition: "service_started" }));
  return Object.entries(deps).map(([name, dep]) => ({ name, condition: dep.condition ?? "service_started" }));
}

describe("docker-compose.yml starts", () => {
  const services = Object.entries(compose.services);

  it("runs every healthcheck with a program its image has", () => {
    let checks = 0;
    for (const [name, service] of services) {
      const test = service.healthcheck?.test;
      if (test === undefined || service.healthcheck?.disable) continue;
      const program = healthcheckProgram(test);
      if (program === undefined) continue;
      checks++;
      const image = imageOf(service);
      assert.ok(
        executablesOf(image).includes(program),
        `${name}: its healthcheck runs ${program}, which image ${image} does not have`,
      );
    }
    assert.ok(checks >= 1, "the router's healthcheck was found");
  });

  it("puts no healthcheck on the shell-less NATS image", () => {
    const nats = services.filter(([, service]) => /^nats:/.test(service.image ?? ""));
    assert.ok(nats.length >= 1);
    for (const [name, service] of nats) assert.equal(service.healthcheck, undefined, name);
  });

  it("has depends_on conditions that can be met", () => {
    for (const [name, service] of services) {
      for (const dep of dependenciesOf(service)) {
        const target = compose.services[dep.name];
        assert.ok(target, `${name} depends on ${dep.name}, which is not a service`);
        if (dep.condition === "service_healthy") {
          assert.ok(
            target.healthcheck?.test,
            `${name} waits for ${dep.name} to be healthy; it has no healthcheck`,
          );
        } else if (dep.condition === "service_completed_successfully") {
          assert.ok(
            !["always", "unless-stopped"].includes(target.restart ?? "no"),
            `${name} waits for ${dep.name} to complete; it restarts forever`,
          );
        } else {
          assert.equal(dep.condition, "service_started", `${name} → ${dep.name}`);
        }
        // A service of the default set cannot wait for one that only a profile starts.
        if (!service.profiles)
          assert.equal(target.profiles, undefined, `${name} depends on profiled ${dep.name}`);
      }
    }
  });

  it("has no depends_on cycle", () => {
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string, path: string[]) => {
      if (done.has(name)) return;
      assert.ok(!visiting.has(name), `depends_on cycle: ${[...path, name].join(" → ")}`);
      visiting.add(name);
      for (const dep of dependenciesOf(compose.services[name]!)) visit(dep.name, [...path, name]);
      visiting.delete(name);
      done.add(name);
    };
    for (const name of Object.keys(compose.services)) visit(name, []);
  });

  it("offers Prometheus and Grafana under the observability profile only", () => {
    for (const name of ["prometheus", "grafana"]) {
      assert.deepEqual(compose.services[name]?.profiles, ["observability"], name);
    }
  });

  it("builds an image that holds the console's files and runs as a non-root user", () => {
    assert.match(dockerfile, /^COPY src \.\/src$/m, "the console's static files live under src/");
    assert.match(dockerfile, /^USER node$/m);
  });

  const docker = (() => {
    try {
      execFileSync("docker", ["compose", "version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();
  it("is valid for `docker compose config`, with and without the observability profile", {
    skip: docker
      ? false
      : "`docker compose` is not available here: the file was checked by the tests above only",
  }, () => {
    const cwd = fileURLToPath(root);
    for (const profile of [[], ["--profile", "observability"]]) {
      execFileSync("docker", ["compose", ...profile, "config", "--quiet"], { cwd, stdio: "pipe" });
    }
  });
});
