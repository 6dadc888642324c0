// `bun analyze.ts compare A.json B.json ...`: saved bench results side by
// side, each row's median as a ratio to the first result.

import { readFileSync } from "node:fs";
import { BENCH_SCHEMA_VERSION, type BenchResult } from "./bench.ts";
import { LogmrError } from "../core/errors.ts";

export class CompareError extends LogmrError {}

export function loadBenchResult(path: string): BenchResult {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CompareError(`cannot read ${path}: ${code === "ENOENT" ? "no such file" : code ?? "not JSON"}`);
  }
  const r = doc as Partial<BenchResult>;
  if (typeof r !== "object" || r === null || r.schema !== BENCH_SCHEMA_VERSION || !Array.isArray(r.rows) || typeof r.environment !== "object") {
    throw new CompareError(`${path} is not a bench result (bun analyze.ts bench --export-json FILE) of schema ${BENCH_SCHEMA_VERSION}`);
  }
  for (const row of r.rows) {
    if (typeof row?.name !== "string" || typeof row?.seconds?.median !== "number" || !(row.seconds.median > 0)) {
      throw new CompareError(`${path} has a row without a name or a positive median`);
    }
  }
  return r as BenchResult;
}

export interface CompareRow {
  name: string;
  /** Median seconds per result (null where the result has no such row). */
  medians: Array<number | null>;
  /** medians[0] / medians[k]: > 1 means result k is faster than the first. */
  speedups: Array<number | null>;
}

export function compareResults(results: readonly BenchResult[]): CompareRow[] {
  const names: string[] = [];
  for (const r of results) for (const row of r.rows) if (!names.includes(row.name)) names.push(row.name);
  return names.map((name) => {
    const medians = results.map((r) => r.rows.find((row) => row.name === name)?.seconds.median ?? null);
    const base = medians[0];
    return { name, medians, speedups: medians.map((m) => (m === null || base === null || base === undefined ? null : base / m)) };
  });
}

const sec = (s: number | null) => (s === null ? "-" : s >= 1 ? `${s.toFixed(3)} s` : `${(s * 1000).toFixed(1)} ms`);

export function renderCompare(labels: readonly string[], results: readonly BenchResult[]): string {
  const rows = compareResults(results);
  const out: string[] = [];
  results.forEach((r, k) => {
    const e = r.environment;
    out.push(`${String.fromCharCode(65 + k)}: ${labels[k]}: ${r.input}; ${e.cpuModel}, ${e.cores} cores, ${e.os}, Bun ${e.bunVersion}, engine ${e.engineVersion}${e.commit ? ` (${e.commit})` : ""}, ${e.date}`);
  });
  out.push("");
  const header = ["", ...results.map((_, k) => String.fromCharCode(65 + k)), ...results.slice(1).map((_, k) => `${String.fromCharCode(66 + k)} vs A`)];
  const table = [
    header,
    ...rows.map((r) => [
      r.name,
      ...r.medians.map(sec),
      ...r.speedups.slice(1).map((s) => (s === null ? "-" : s >= 1 ? `${s.toFixed(2)}x faster` : `${(1 / s).toFixed(2)}x slower`)),
    ]),
  ];
  const widths = header.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  for (const row of table) out.push(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ").trimEnd());
  return `${out.join("\n")}\n`;
}
