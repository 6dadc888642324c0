// Progress on stderr for long runs: drawn a few times a second on a terminal,
// once more at the end, and never when stderr is not a terminal.

import type { MapProgress } from "../map/run-tasks.ts";

const REDRAW_MS = 200;

function amount(n: number, unit: "lines" | "bytes"): string {
  if (unit === "bytes") return `${(n / 1e6).toFixed(n >= 1e9 ? 0 : 1)} MB`;
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n);
}

export function progressText(p: MapProgress, elapsedMs: number, unit: "lines" | "bytes"): string {
  const rate = elapsedMs > 0 ? (p.done / elapsedMs) * 1000 : 0;
  const parts = [p.total > 0 ? `${((100 * p.done) / p.total).toFixed(1).padStart(5)}%` : "", `${amount(p.done, unit)}${p.total > 0 ? ` of ${amount(p.total, unit)}` : ""}${unit === "lines" ? " lines" : ""}`];
  if (rate > 0) parts.push(`${amount(rate, unit)}${unit === "lines" ? " lines" : ""}/s`);
  if (rate > 0 && p.total > p.done) parts.push(`${((p.total - p.done) / rate).toFixed(1)} s left`);
  return parts.filter(Boolean).join("  ");
}

export class ProgressLine {
  private readonly started = performance.now();
  private lastDraw = 0;
  private last: MapProgress = { done: 0, total: 0 };

  constructor(
    private readonly stream: { write(s: string): unknown },
    private readonly unit: "lines" | "bytes",
  ) {}

  update = (p: MapProgress): void => {
    this.last = p;
    const t = performance.now();
    if (t - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = t;
    this.stream.write(`\r\x1b[K${progressText(p, t - this.started, this.unit)}`);
  };

  /** Draws the final state once and ends the line (or clears it). */
  finish(keep: boolean): void {
    if (this.lastDraw === 0) return;
    const text = keep ? `${progressText({ ...this.last, done: this.last.total || this.last.done }, performance.now() - this.started, this.unit)}\n` : "";
    this.stream.write(`\r\x1b[K${text}`);
  }
}
