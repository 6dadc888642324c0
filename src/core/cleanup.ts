// Temporary files and descriptors the run must give back however it ends: at
// its normal end each owner releases its own; on SIGINT/SIGTERM the CLI runs
// whatever is still registered before it exits.

const cleanups = new Set<() => void>();

/** Registers `fn` until the returned function is called (which runs it). */
export function whileRunning(fn: () => void): () => void {
  cleanups.add(fn);
  return () => {
    if (cleanups.delete(fn)) fn();
  };
}

/** Runs every registered cleanup (a signal ends the process right after). */
export function runCleanups(): void {
  for (const fn of [...cleanups]) {
    cleanups.delete(fn);
    try {
      fn();
    } catch {
      // best effort: the process is ending
    }
  }
}

/** Whether process `pid` is alive (what it left behind, a temporary file or a lock, is not stale yet). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
