import { loadConfigFromEnv } from "../../config/index.js";
import { BeamlineError } from "../../errors/index.js";
import { openTenancyAdmin, type TenancyAdmin } from "../../tenancy/index.js";
import { connectForCommand, signedStoreForCommand } from "../nats-target.js";

/** Runs `action` with a tenancy admin on the NATS the CLI talks to, then closes the connection. */
export async function withTenancyAdmin(
  name: string,
  action: (admin: TenancyAdmin) => Promise<unknown>,
): Promise<void> {
  const config = loadConfigFromEnv();
  const nc = await connectForCommand(config, name);
  try {
    await action(await openTenancyAdmin(await signedStoreForCommand(config, nc)));
  } finally {
    await nc.close();
  }
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90s`, `15m`, `12h`, `30d` (or a bare number of seconds) → seconds. */
export function parseDurationSeconds(text: string, option: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!match) {
    throw new BeamlineError(
      "BL_BAD_REQUEST",
      `${option} takes a duration like 90s, 15m, 12h or 30d; got ${JSON.stringify(text)}.`,
    );
  }
  return Number(match[1]) * (UNIT_SECONDS[match[2] || "s"] ?? 1);
}
