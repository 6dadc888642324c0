// Fault injection for tests and the soak script, off unless LOGMR_FAULTS is
// set: "KIND@TASK[:ATTEMPT],..." makes the worker misbehave on that task's
// attempt (default: the first). TASK may be "*" for every task.

export const FAULT_ENV = "LOGMR_FAULTS";

export const FAULT_KINDS = [
  "crash", // exit with code 70 before writing anything
  "kill", // die by SIGKILL
  "hang", // stop making progress (and never exit)
  "silent", // exit 0 without writing anything
  "garbage", // write a line that is not JSON
  "truncate", // write the first half of the partial's JSON
  "shape", // write a partial whose counts do not add up
  "pause", // wait before the task until the file named by LOGMR_FAULT_GATE exists
] as const;
/** Faults that make a task fail, for the soak (pause only waits). */
export const FAILURE_KINDS = FAULT_KINDS.filter((k) => k !== "pause");
export const FAULT_GATE_ENV = "LOGMR_FAULT_GATE";
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  kind: FaultKind;
  task: number | "*";
  attempt: number;
}

export function parseFaults(text: string | undefined): Fault[] {
  if (!text) return [];
  return text.split(",").map((spec) => {
    const m = /^(\w+)@(\d+|\*)(?::(\d+))?$/.exec(spec.trim());
    if (!m || !FAULT_KINDS.includes(m[1] as FaultKind)) throw new Error(`bad ${FAULT_ENV} entry ${JSON.stringify(spec)}`);
    return { kind: m[1] as FaultKind, task: m[2] === "*" ? "*" : Number(m[2]), attempt: m[3] === undefined ? 1 : Number(m[3]) };
  });
}

const applies = (f: Fault, task: number, attempt: number) => (f.task === "*" || f.task === task) && f.attempt === attempt;

/** The failure to inject on this attempt of this task, if any. */
export function faultFor(faults: readonly Fault[], task: number, attempt: number): FaultKind | undefined {
  return faults.find((f) => f.kind !== "pause" && applies(f, task, attempt))?.kind;
}

/** Whether this attempt waits at the gate before it starts (beside any failure). */
export function pausesAt(faults: readonly Fault[], task: number, attempt: number): boolean {
  return faults.some((f) => f.kind === "pause" && applies(f, task, attempt));
}

/**
 * The parent's own death, for the --state crash tests: "write:N" dies by
 * SIGKILL inside the Nth write to the state (before its commit), "after:N"
 * right after the Nth commit (between tasks).
 */
export const STATE_FAULT_ENV = "LOGMR_STATE_FAULT";
export type StateFaultPoint = "write" | "after";

export function parseStateFault(text: string | undefined): { point: StateFaultPoint; n: number } | null {
  if (!text) return null;
  const m = /^(write|after):(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`bad ${STATE_FAULT_ENV} ${JSON.stringify(text)}`);
  return { point: m[1] as StateFaultPoint, n: Number(m[2]) };
}
