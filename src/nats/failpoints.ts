/**
 * Crash points for fault tests. `BEAMLINE_FAILPOINTS=route.after-handle,execute.before-handle`
 * makes this process kill itself (SIGKILL: no cleanup, no ack) the first time it reaches a
 * listed point, exactly as a machine failure would. Unset in production, where the check
 * is one lookup in an empty set.
 */
const armed = new Set(
  (process.env["BEAMLINE_FAILPOINTS"] ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean),
);

export function failpoint(name: string): void {
  if (armed.size === 0 || !armed.has(name)) return;
  process.stderr.write(`failpoint ${name}: killing process ${process.pid}\n`);
  process.kill(process.pid, "SIGKILL");
}
