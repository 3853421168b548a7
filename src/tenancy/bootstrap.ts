import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { apiKeySubject, configSubject, legacyApiKeySubject, makeEvent } from "../events/index.js";
import type { EventStore } from "../nats/index.js";
import { StreamNames } from "../nats/index.js";
import { generateApiKey, hashApiKey, keyPrefix } from "./keys.js";

export const DEV_TENANT = "dev";

export interface DevBootstrapResult {
  /** The key in clear, when this process knows it (fixed by env, or generated and kept locally). */
  key: string | undefined;
  /** Where the key came from, for the start-up banner. */
  source: "env" | "generated" | "local-file" | "unknown";
}

/**
 * Makes sure the `dev` tenant and a key for it exist. Idempotent and safe from several
 * processes: the events go to write-once subjects. With `BEAMLINE_DEV_KEY` that key is
 * issued; otherwise one is generated on first start and kept in the local data folder
 * (only for the embedded, single-machine setup) so later starts can show it again.
 */
export async function bootstrapDevTenant(
  store: EventStore,
  options: { devKey?: string | undefined; localKeyFile?: string | undefined; now: Date },
): Promise<DevBootstrapResult> {
  const context = { tenant: DEV_TENANT, requestId: "", correlationId: "bootstrap" };
  await store.append(
    configSubject("tenant", DEV_TENANT),
    makeEvent(
      "tenant.created",
      `tenant.created:${DEV_TENANT}`,
      context,
      { name: "Development tenant" },
      options.now,
    ),
    { once: true },
  );
  const issue = async (key: string, keyId: string) => {
    const keyHash = hashApiKey(key);
    const event = makeEvent(
      "apikey.issued",
      `apikey.issued:${keyId}`,
      context,
      { keyId, keyHash, keyPrefix: keyPrefix(key), label: "dev" },
      options.now,
    );
    // A key issued before key events were tenant-scoped stays issued: its write-once slot is
    // the legacy subject, which the new one cannot guard. Read from the leader: a lagging
    // replica's "none" would issue the key a second time on the new subject.
    if (await store.readFirst(StreamNames.config, legacyApiKeySubject(keyId), { fromLeader: true })) {
      return { seq: undefined, duplicate: true };
    }
    return store.append(apiKeySubject(DEV_TENANT, keyId), event, { once: true });
  };
  if (options.devKey) {
    // The key id is derived from the hash, so the same env key is issued once however often we start.
    await issue(options.devKey, `key_dev_${hashApiKey(options.devKey).slice(0, 12)}`);
    return { key: options.devKey, source: "env" };
  }
  const existing = options.localKeyFile
    ? await readFile(options.localKeyFile, "utf8").catch(() => undefined)
    : undefined;
  const candidate = existing?.trim() || generateApiKey();
  const result = await issue(candidate, "key_dev_default");
  if (result.duplicate) {
    return existing ? { key: candidate, source: "local-file" } : { key: undefined, source: "unknown" };
  }
  if (options.localKeyFile) {
    await mkdir(join(options.localKeyFile, ".."), { recursive: true });
    await writeFile(options.localKeyFile, `${candidate}\n`, { mode: 0o600 });
    await chmod(options.localKeyFile, 0o600);
  }
  return { key: candidate, source: "generated" };
}
