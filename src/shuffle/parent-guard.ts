// The parent's own share under --memory: the keyed rows it holds inline in
// the partials of the map so far. Past its share, a partial that comes back
// inline is spilled by the parent at once, whatever each task's share said
// (standard input's segments and gzip files have no size to share by).

import type { CountsPartial } from "../core/partial.ts";
import type { SpillConfig } from "./spill-partial.ts";
import { keyedRows } from "./tables.ts";

export class ParentGuard {
  private held = 0;
  /** Partials the parent spilled itself. */
  spilled = 0;

  constructor(
    private readonly config: SpillConfig,
    private readonly parentRows: number,
  ) {}

  accept(taskId: number, partial: CountsPartial): void {
    const rows = keyedRows(partial);
    if (rows === 0) return;
    if (this.held + rows <= this.parentRows) {
      this.held += rows;
      return;
    }
    const { spillPartial, spillableTables, SpillWriteError } = require("./spill-partial.ts") as typeof import("./spill-partial.ts");
    const { SpillError, spillProblem } = require("./spill-dir.ts") as typeof import("./spill-dir.ts");
    try {
      spillPartial(partial, this.config, `g${taskId}`, spillableTables(partial));
    } catch (err) {
      throw new SpillError(spillProblem(err instanceof SpillWriteError ? err.failure : err, this.config.dir));
    }
    this.spilled++;
    this.held += keyedRows(partial);
  }
}
