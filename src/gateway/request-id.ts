import { randomBytes } from "node:crypto";
import { formatRequestId } from "../events/index.js";

/** Random bytes drawn from a pool refilled 4 KiB at a time: one system call per ~400 ids. */
let pool = Buffer.alloc(0);
let poolOffset = 0;
function randomSlice(size: number): Uint8Array {
  if (poolOffset + size > pool.length) {
    pool = randomBytes(4096);
    poolOffset = 0;
  }
  const slice = pool.subarray(poolOffset, poolOffset + size);
  poolOffset += size;
  return slice;
}

/** A new request id (a ULID, see `formatRequestId`) for a request accepted at `nowMs`. */
export function newRequestId(nowMs: number = Date.now()): string {
  return formatRequestId(nowMs, randomSlice(10));
}
