// What parent and worker agree on besides the task and partial formats
// (a module of its own, so the parent does not load the worker's code).

/**
 * Marks a worker's last stderr line when its task cannot succeed on any
 * child (an input changed under the run, or is corrupt, or --where's regex
 * cannot be answered on a line); it then exits EXIT_INPUT_CHANGED
 * and the parent stops the run with the message instead of retrying.
 */
export const FATAL_PREFIX = "@fatal ";
export const EXIT_INPUT_CHANGED = 65;
/** Like EXIT_INPUT_CHANGED, for an input that is corrupt (it may be skipped with --skip-unreadable). */
export const EXIT_INPUT_CORRUPT = 66;
/** Marks a progress line on the worker's stderr: the prefix, then {"task":id,"done":units}. */
export const PROGRESS_PREFIX = "@progress ";
/** The parent's pid, told by the parent: it may die before the worker even starts running code. */
export const PARENT_PID_ENV = "LOGMR_PARENT_PID";

/** Environment variable setting the size of stdin's segments (tests and the soak). */
export const SEGMENT_BYTES_ENV = "LOGMR_SEGMENT_BYTES";

/** Under --memory, where and how a worker spills its large partials (JSON, see shuffle/spill-partial.ts). */
export const SPILL_ENV = "LOGMR_SPILL";
/** Environment variable setting the keys a worker may hold in the middle of a task under --memory (tests and the soak). */
export const SPILL_KEYS_ENV = "LOGMR_SPILL_KEYS";
