import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The generated hash key's file name inside the data directory. */
export const TENANT_LABEL_KEY_FILE = "metrics-label-key";

/**
 * The key of the `hashed` tenant label: `configured` when set (every process of a deployment
 * should share it, or their hashes differ), otherwise the one in `<dataDir>/metrics-label-key`,
 * generated on first use (32 random bytes, mode 0600, created exclusively so two processes
 * starting together agree). A key that changes renames every tenant's series.
 */
export async function loadTenantLabelKey(options: {
  configured: string | undefined;
  dataDir: string;
}): Promise<string> {
  if (options.configured) return options.configured;
  const file = join(options.dataDir, TENANT_LABEL_KEY_FILE);
  const existing = await readFile(file, "utf8").catch(() => undefined);
  if (existing?.trim()) return existing.trim();
  await mkdir(options.dataDir, { recursive: true });
  const generated = randomBytes(32).toString("base64url");
  try {
    await writeFile(file, `${generated}\n`, { mode: 0o600, flag: "wx" });
    return generated;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return (await readFile(file, "utf8")).trim();
    throw error;
  }
}
