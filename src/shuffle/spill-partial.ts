// A partial with too many keyed rows to carry inline: its keyed tables go to
// sorted runs in the spill directory, and it names them instead. Used by a
// worker for its own task and by the parent for the inline partials of a run
// whose other partials spilled (so every key of a table is in some run).

import { unlinkSync } from "node:fs";
import { join } from "node:path";
import type { CountsPartial } from "../core/partial.ts";
import { ensureSpillDir } from "./spill-dir.ts";
export { keyedRows } from "./tables.ts";
import { MIN_INLINE_ROWS } from "./tables.ts";
import { type KeyRow, pairKey, SPILLED_TABLE_NAMES, type SpilledTable, spillTables, type SpillRun } from "./runs.ts";

/** What the parent tells its workers (in SPILL_ENV): where, into how many partitions, and the rows a partial may keep inline. */
export interface SpillConfig {
  dir: string;
  partitions: number;
  /** Keyed rows a partial may keep inline: `inlineRows` for a task of unknown size, else its share by bytes or lines (see inlineLimit). */
  inlineRows: number;
  rowsPerByte: number;
  rowsPerLine: number;
  /** Keys a worker may hold while it counts a task: past them, it spills what it has and goes on. */
  maxKeys: number;
  /** A worker's (and a reducer's) share of the budget, in bytes. */
  workerShare: number;
}

export { SPILL_ENV } from "../core/protocol.ts";
import { SPILL_ENV } from "../core/protocol.ts";
/** Tests and the soak: "enospc" makes every spill write fail as a full disk would. */
export const SPILL_FAULT_ENV = "LOGMR_SPILL_FAULT";

export interface SpillPartial {
  dir: string;
  partitions: number;
  runs: SpillRun[];
}

/** The keyed rows a task's partial may keep inline: its share of what the parent may hold, by its size. */
export function inlineLimit(task: { kind: string; start?: number; end?: number }, config: Pick<SpillConfig, "inlineRows" | "rowsPerByte" | "rowsPerLine">): number {
  const size = (task.end ?? 0) - (task.start ?? 0);
  if (task.kind === "file") return Math.max(MIN_INLINE_ROWS, Math.floor(size * config.rowsPerByte));
  if (task.kind === "generate") return Math.max(MIN_INLINE_ROWS, Math.floor(size * config.rowsPerLine));
  return config.inlineRows;
}

export function parseSpillConfig(text: string | undefined): SpillConfig | null {
  if (!text) return null;
  const c = JSON.parse(text) as SpillConfig;
  if (typeof c.dir !== "string" || !Number.isSafeInteger(c.partitions) || c.partitions < 1 || !Number.isSafeInteger(c.inlineRows) || !Number.isSafeInteger(c.maxKeys)) throw new Error(`bad ${SPILL_ENV}`);
  return c;
}

/** The tables a partial may spill (the groups only with a partial split by --by). */
export function spillableTables(counts: CountsPartial): SpilledTable[] {
  return SPILLED_TABLE_NAMES.filter((t) => counts.groups !== undefined || (t !== "groups" && t !== "groupClients"));
}

/** A table's rows as runs hold them (the groups' rows from their objects, their clients as pairs). */
function rowsOf(counts: CountsPartial, table: SpilledTable): KeyRow[] {
  if (table === "paths") return pathRows(counts);
  if (table === "groups") {
    return (counts.groups?.rows ?? []).map((g) => [g.key, g.requests, g.bytes, ...g.classes, ...(g.latency ? [g.latency] : [])] as unknown as KeyRow);
  }
  if (table === "groupClients") {
    const out: KeyRow[] = [];
    for (const g of counts.groups?.rows ?? []) for (const i of g.clients ?? []) out.push([pairKey(g.key, counts.clients[i]![0]), 1]);
    return out;
  }
  if (table === "hosts") return (counts.hosts ?? []).map(([host, n, c4, c5, times]) => (times ? [host, n, c4, c5, times] : [host, n, c4, c5]) as unknown as KeyRow);
  return counts[table] as KeyRow[];
}

/** The paths with their response times (latency.byPath) after their counts, one row a path. */
function pathRows(counts: CountsPartial): KeyRow[] {
  const byPath = counts.latency?.byPath;
  if (!byPath || byPath.length === 0) return counts.paths as KeyRow[];
  const times = new Map(byPath);
  return counts.paths.map(([path, n]) => {
    const t = times.get(path);
    return (t ? [path, n, t] : [path, n]) as unknown as KeyRow;
  });
}


export class SpillWriteError extends Error {
  constructor(readonly failure: unknown) {
    super("spill write failed");
    this.name = "SpillWriteError";
  }
}

function injectedFault(): void {
  if (process.env[SPILL_FAULT_ENV] === "enospc") throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
}

/**
 * Moves `tables` of `counts` to runs named `${prefix}-...` (in place: the
 * tables are left empty, `spill` names the runs). On a failed write, the
 * runs written so far are removed and SpillWriteError thrown.
 */
export function spillPartial(counts: CountsPartial, config: Pick<SpillConfig, "dir" | "partitions">, prefix: string, tables: readonly SpilledTable[] = spillableTables(counts)): void {
  tables = [...tables];
  const picked: Partial<Record<SpilledTable, readonly KeyRow[]>> = {};
  // Clients and groups go together: the groups name their clients by index.
  if (counts.groups && (tables.includes("clients") || tables.includes("groups"))) tables = [...new Set([...tables, "clients", "groups", "groupClients"] as SpilledTable[])];
  for (const t of tables) picked[t] = rowsOf(counts, t);
  let runs: SpillRun[];
  try {
    injectedFault();
    ensureSpillDir(config.dir);
    runs = spillTables(picked, config.dir, prefix, config.partitions);
  } catch (err) {
    for (const t of SPILLED_TABLE_NAMES) for (let r = 0; r < config.partitions; r++) {
      try {
        unlinkSync(join(config.dir, `${prefix}-${t}-${r}.run`));
      } catch {
        // not written
      }
    }
    throw new SpillWriteError(err);
  }
  for (const t of tables) {
    if (t === "hosts") {
      if (counts.hosts) counts.hosts = [];
    } else if (t !== "groups" && t !== "groupClients") counts[t] = [];
  }
  if (tables.includes("groups") && counts.groups) counts.groups = { field: counts.groups.field, rows: [] };
  // The paths' response times went with them.
  if (tables.includes("paths") && counts.latency?.byPath) counts.latency.byPath = [];
  const spill = counts.spill ?? { dir: config.dir, partitions: config.partitions, runs: [] };
  spill.runs.push(...runs);
  counts.spill = spill;
}
