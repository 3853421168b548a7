import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { startProgress } from "../../src/cli/progress.js";

/** A writable that says it is a terminal and keeps what was written to it. */
function fakeTerminal(isTTY: boolean): NodeJS.WriteStream & { text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as unknown as NodeJS.WriteStream & { text(): string };
  Object.assign(stream, {
    isTTY,
    columns: 120,
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
    text: () => chunks.join(""),
  });
  return stream;
}

describe("CLI progress", () => {
  it("draws a labelled bar with the count on a terminal", () => {
    const terminal = fakeTerminal(true);
    const progress = startProgress("replaying", terminal);
    progress.update(0, 40);
    progress.update(10, 40);
    progress.stop();
    const text = terminal.text();
    assert.match(text, /replaying \[/);
    assert.match(text, /\d+\/40/);
  });

  it("writes nothing when the output is not a terminal", () => {
    const piped = fakeTerminal(false);
    const progress = startProgress("replaying", piped);
    progress.update(5, 10);
    progress.stop();
    assert.equal(piped.text(), "");
  });
});
