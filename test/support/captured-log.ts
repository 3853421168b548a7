import { Writable } from "node:stream";

/** A log destination that keeps every line written to it, for tests that inspect what was logged. */
export interface CapturedLog extends Writable {
  text(): string;
}

/** A writable that keeps what it is given; `text()` returns all of it so far. */
export function capturedLog(): CapturedLog {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  }) as CapturedLog;
  sink.text = () => chunks.join("");
  return sink;
}
