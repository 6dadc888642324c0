// What parent and worker agree on besides the task and partial formats
// (a module of its own, so the parent does not load the worker's code).

/** Environment variable that carries the task when stdin carries the data. */
export const STDIN_TASK_ENV = "LOGMR_STDIN_TASK";
/** Marks a progress line on the worker's stderr: the prefix, then {"task":id,"done":units}. */
export const PROGRESS_PREFIX = "@progress ";
/** The parent's pid, told by the parent: it may die before the worker even starts running code. */
export const PARENT_PID_ENV = "LOGMR_PARENT_PID";
