// The part every plain parser shares: cut a block into lines (LF, one CR
// before it dropped) and hand each one to countLine, which feeds the Tally.
// The fast path does its own cutting, as part of reading the line.

import type { CountsPartial } from "../core/partial.ts";
import type { Counters, TimeWindow } from "../core/task.ts";
import { CR, LF } from "../core/text.ts";
import type { LineCounter } from "./counter.ts";
import { viewOf } from "./fast/keys.ts";
import { LINE_TOO_LONG, Tally } from "./tally.ts";

export abstract class LineByLineCounter implements LineCounter {
  readonly tally: Tally;

  constructor(window: TimeWindow = {}, counters: Counters = "full") {
    this.tally = new Tally(window, counters);
  }

  countBlock(buf: Uint8Array, start: number, end: number, final: boolean, origin: number, startLimit = end): number {
    const view = viewOf(buf);
    let p = start;
    while (p < end && p < startLimit) {
      let lf = buf.indexOf(LF, p);
      if (lf < 0 || lf >= end) {
        if (!final) return p;
        lf = end;
      }
      this.tally.linesRead++;
      this.countLine(buf, view, p, lf > p && buf[lf - 1] === CR ? lf - 1 : lf, origin + p);
      p = lf + 1;
    }
    return p > end ? end : p;
  }

  countOversizedLine(head: Uint8Array, offset: number): void {
    this.tally.linesRead++;
    this.tally.countMalformed(head, 0, head.length, offset, LINE_TOO_LONG);
  }

  toCounts(): CountsPartial {
    return this.tally.toCounts();
  }

  /** Counts the line buf[s, e) (already counted as read; `view` is over buf), `offset` its place in the input. */
  protected abstract countLine(buf: Uint8Array, view: DataView, s: number, e: number, offset: number): void;
}
