// The one error type users see: a one-line message and the exit code it
// ends the run with. Each module names its own kind (a subclass) so callers
// can tell them apart; the CLI maps any of them to its exit code in one place.

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_SIGINT = 130;
export const EXIT_SIGTERM = 143;

export class LogmrError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
    /** Lines printed under the message (samples of what was wrong). */
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** An input that cannot be read or used: missing, unreadable, unsupported, changed under the run. */
export class InputError extends LogmrError {}
