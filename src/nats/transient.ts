/**
 * Whether a NATS/JetStream failure is worth retrying with the same message id: no stream
 * leader yet (elections take seconds: "jetstream is not enabled", no responders), a timeout
 * waiting for the ack, or a connection that is reconnecting.
 */
export function isTransientNatsError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const name = error.name;
  if (name === "TimeoutError" || name === "NoRespondersError" || name === "JetStreamNotEnabled") return true;
  if (name === "ClosedConnectionError") return false;
  const text = `${error.message} ${(error.cause as Error | undefined)?.message ?? ""}`.toLowerCase();
  return (
    text.includes("no responders") ||
    text.includes("timeout") ||
    text.includes("jetstream is not enabled") ||
    text.includes("jetstream not enabled") ||
    text.includes("no suitable peers") ||
    text.includes("disconnect") ||
    text.includes("503")
  );
}

/** JetStream API code for "wrong last sequence" (an expected-sequence check failed). */
export const WRONG_LAST_SEQUENCE = 10071;

export function isWrongLastSequence(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return code === WRONG_LAST_SEQUENCE || error.message.toLowerCase().includes("wrong last sequence");
}
