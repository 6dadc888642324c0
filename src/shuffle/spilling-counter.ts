// A task's counter under --memory: when its key tables pass the worker's
// share in the middle of the task (a gzip file, a stretch of stdin, any
// input that cannot be cut smaller), the counts so far go to sorted runs
// and counting goes on with fresh tables. The partial is the merge of the
// segments, so it counts what one counter over the whole task would.

import type { CountsPartial } from "../core/partial.ts";
import type { LineCounter } from "../count/counter.ts";
import type { Tally } from "../count/tally.ts";

export type TallyCounter = LineCounter & { tally: Tally };

/** Distinct keys a counter holds now: the tables that grow with the log. */
export function heldKeys(t: Tally): number {
  return t.clients.size + t.requestKeys.size + t.tails.size + t.hosts.size + t.latencyPaths.size;
}

export class SpillingCounter implements LineCounter {
  private inner: TallyCounter;
  private readonly segments: CountsPartial[] = [];
  private linesBefore = 0;

  /**
   * `make`: a fresh counter for the task; `maxKeys`: keys a segment may
   * hold; `spill(counts, k)`: moves segment k's keyed tables to runs.
   */
  constructor(
    private readonly make: () => TallyCounter,
    private readonly maxKeys: number,
    private readonly spill: (counts: CountsPartial, segment: number) => void,
  ) {
    this.inner = make();
  }

  get tally(): Tally {
    return this.inner.tally;
  }

  countBlock(buf: Uint8Array, start: number, end: number, final: boolean, origin: number, startLimit?: number): number {
    const consumed = this.inner.countBlock(buf, start, end, final, origin, startLimit);
    if (heldKeys(this.inner.tally) > this.maxKeys) this.flush();
    return consumed;
  }

  countOversizedLine(head: Uint8Array, offset: number): void {
    this.inner.countOversizedLine(head, offset);
  }

  /** Segments spilled so far. */
  get spilled(): number {
    return this.segments.length;
  }

  private segmentCounts(): CountsPartial {
    const counts = this.inner.toCounts();
    // Line numbers of samples count from the task's first line, not the segment's.
    for (const s of counts.malformedSamples) s.line += this.linesBefore;
    this.linesBefore += counts.lines.read;
    return counts;
  }

  private flush(): void {
    const counts = this.segmentCounts();
    this.spill(counts, this.segments.length);
    this.segments.push(counts);
    this.inner = this.make();
    // The last segment's tables are garbage now: give them back before the next fills up.
    Bun.gc(true);
  }

  toCounts(): CountsPartial {
    const last = this.segmentCounts();
    if (this.segments.length === 0) return last;
    const { mergeAll } = require("../core/partial.ts") as typeof import("../core/partial.ts");
    return mergeAll([...this.segments, last]);
  }
}
