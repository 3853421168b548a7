/** Renders rows as an aligned plain-text table with a header line; empty cells show as `-`. */
export function formatTable(
  headers: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | undefined>>,
): string {
  const cells = [
    headers,
    ...rows.map((row) => row.map((cell) => (cell === undefined || cell === "" ? "-" : cell))),
  ];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? "").length)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : (cell ?? "").padEnd(widths[column] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")
    .concat("\n");
}

/** Where a command writes: stdout for results, stderr for notes meant for a person. */
export interface CommandOutput {
  out(text: string): void;
  note(text: string): void;
}

export const processOutput: CommandOutput = {
  out: (text) => process.stdout.write(text),
  note: (text) => process.stderr.write(text),
};
