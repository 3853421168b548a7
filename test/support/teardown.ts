/**
 * Runs every teardown step in order, even after one fails, then rethrows the first failure: a
 * process that would not stop must not leave the nats-server and the other processes of the
 * test running (and the test file with them).
 */
export async function tearDown(...steps: Array<() => Promise<unknown> | undefined>): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, `${failures.length} teardown steps failed`);
}
