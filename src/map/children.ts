// The map's children as the rest of the parent sees them: the set of live
// ones (a signal takes them down too) and the defaults of their retries and
// timeouts, apart from run-tasks.ts, which a run with nothing to map never loads.

import type { Subprocess } from "bun";

export const DEFAULT_RETRIES = 2;
/** A child that reports no progress for this long is stuck. */
export const DEFAULT_TASK_TIMEOUT_MS = 30_000;

/** Children still running, so a signal to the parent can take them down too. */
export const liveChildren = new Set<Subprocess>();

/** Kills every live child (on SIGINT/SIGTERM, or when the run has failed). */
export function killChildren(): void {
  for (const child of liveChildren) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}
