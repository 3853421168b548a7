import assert from "node:assert/strict";

/** The data of a `{ type, data }` record after asserting its type: narrows a union in tests. */
export function dataOf<R extends { type: string; data: unknown }, T extends R["type"]>(
  record: R | undefined,
  type: T,
): Extract<R, { type: T }>["data"] {
  assert.equal(record?.type, type);
  return (record as Extract<R, { type: T }>).data;
}
