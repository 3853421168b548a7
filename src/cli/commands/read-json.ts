import { readFile } from "node:fs/promises";
import { BeamlineError } from "../../errors/index.js";

/** Reads a JSON document an operator names on the command line; `-` reads standard input. */
export async function readJsonArgument(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = path === "-" ? await readStdin() : await readFile(path, "utf8");
  } catch (error) {
    throw new BeamlineError("BL_BAD_REQUEST", `cannot read the ${what} ${path}`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BeamlineError(
      "BL_MALFORMED_JSON",
      `the ${what} ${path} is not valid JSON: ${(error as Error).message}`,
    );
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
