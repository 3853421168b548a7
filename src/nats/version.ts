/**
 * The oldest nats-server Beamline runs against. 2.12.7–2.12.9 lose KV state on restart and
 * 2.10 silently drops stream settings Beamline relies on, so 2.12.10 is the floor.
 */
export const MIN_NATS_SERVER_VERSION = "2.12.10";

/** Compares dotted versions numerically; pre-release suffixes sort before the release. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core = "", pre] = v.replace(/^v/, "").split("-", 2);
    return { parts: core.split(".").map((p) => Number.parseInt(p, 10) || 0), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < Math.max(x.parts.length, y.parts.length); i++) {
    const diff = (x.parts[i] ?? 0) - (y.parts[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}

export function isSupportedServerVersion(version: string): boolean {
  return compareVersions(version, MIN_NATS_SERVER_VERSION) >= 0;
}
