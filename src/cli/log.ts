// Human-facing messages on stderr through consola, loaded only when there is
// something to say (it costs about 35 ms of start-up otherwise).

import type { ConsolaInstance } from "consola";
import { isTerminal } from "../core/fd.ts";

let instance: ConsolaInstance | null = null;
let quiet = false;

export function setQuiet(value: boolean): void {
  quiet = value;
  if (instance) instance.level = value ? 0 : 3;
}

async function logger(): Promise<ConsolaInstance> {
  if (!instance) {
    const { createConsola } = await import("consola");
    // consola writes info to stdout by default: everything goes to stderr here,
    // on one plain line unless stderr is a terminal. (It reads `fancy`, though
    // some of its type declarations omit it.)
    instance = createConsola({ stdout: process.stderr, stderr: process.stderr, ...{ fancy: isTerminal(2) } });
    instance.level = quiet ? 0 : 3;
  }
  return instance;
}

export async function logError(message: string): Promise<void> {
  (await logger()).error(message);
}

export async function logWarn(message: string): Promise<void> {
  if (!quiet) (await logger()).warn(message);
}
