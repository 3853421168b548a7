/** One thing to close when the process stops: a connection, a listener, a watcher. */
export interface ShutdownStep {
  /** Names the step in the warning when it fails or overruns; never a secret. */
  name: string;
  run: () => Promise<void>;
}

export interface ShutdownLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface ShutdownOptions {
  /** The time the next step may take, asked as it starts (a step may use the drain's time left). */
  stepTimeoutMs: () => number;
  log: ShutdownLog;
}

/**
 * Runs `steps` last-registered first, each to completion, failure or its time limit. A step
 * that overruns is left behind and the stop goes on with the next: a NATS drain stuck behind an
 * unreachable server must not keep the HTTP listener open, nor the process from exiting.
 * A step's failure is logged and the rest still run. Resolves once every step has had its turn.
 */
export async function runShutdownSteps(
  steps: ReadonlyArray<ShutdownStep>,
  options: ShutdownOptions,
): Promise<void> {
  for (const step of [...steps].reverse()) {
    const limitMs = options.stepTimeoutMs();
    let timer: NodeJS.Timeout | undefined;
    const overran = new Promise<"overran">((resolve) => {
      timer = setTimeout(() => resolve("overran"), limitMs);
    });
    try {
      const outcome = await Promise.race([step.run().then(() => "done" as const), overran]);
      if (outcome === "overran") {
        options.log.warn(
          { step: step.name, limitMs },
          "shutdown step did not finish in time; going on without it",
        );
      }
    } catch (error) {
      options.log.warn({ step: step.name, err: error }, "shutdown step failed");
    } finally {
      clearTimeout(timer);
    }
  }
}
