// The shuffle of a run whose partials spilled: every keyed row of the tables
// that spilled goes to the runs (the parent writes those of the partials
// that stayed inline), one reducer per partition merges them, and the
// parent combines what they return. The partials keep the rest (totals,
// statuses, minutes), merged in memory as always.

import type { TaskPartial } from "../core/partial.ts";
import { combinePartitions, type KeyedSummary } from "./combine.ts";
import { KEY_ORDER_FIELDS } from "../count/by-fields.ts";
import { runReducers } from "./run-reducers.ts";
import { SPILLED_TABLE_NAMES, type SpilledTable } from "./runs.ts";
import { SpillError, spillProblem } from "./spill-dir.ts";
import { keyedRows, type SpillConfig, spillPartial, SpillWriteError } from "./spill-partial.ts";

export interface ShuffleInfo {
  /** Partials whose worker spilled them, of all. */
  spilledTasks: number;
  partitions: number;
  runs: number;
  /** Bytes of runs written, by workers and parent. */
  bytes: number;
  reducers: Array<{ partition: number; pid: number; ms: number; maxRssMb: number }>;
  retries: Array<{ partition: number; causes: string[] }>;
  reduceMs: number;
}

export async function reduceSpilled(
  partials: readonly TaskPartial[], config: SpillConfig, options: { top: number; workers: number; retries?: number; timeoutMs?: number },
): Promise<{ keyed: KeyedSummary; info: ShuffleInfo }> {
  const t0 = performance.now();
  const spilledTasks = partials.filter((p) => p.spill).length;
  const tables = new Set<SpilledTable>(partials.flatMap((p) => p.spill?.runs.map((r) => r.table) ?? []));
  const picked = SPILLED_TABLE_NAMES.filter((t) => tables.has(t));
  const field = partials.find((p) => p.groups)?.groups!.field;
  for (const p of partials) {
    // (spillPartial takes a partial's groups and clients together: the groups name their clients.)
    const inline = picked.filter((t) => keyedRows(p, [t]) > 0);
    if (inline.length === 0) continue;
    try {
      spillPartial(p, config, `p${p.taskId}`, inline);
    } catch (err) {
      throw new SpillError(spillProblem(err instanceof SpillWriteError ? err.failure : err, config.dir));
    }
  }
  const runs = partials.flatMap((p) => p.spill?.runs ?? []);
  const reduced = await runReducers(runs, { dir: config.dir, partitions: config.partitions, top: options.top, workers: options.workers, retries: options.retries, timeoutMs: options.timeoutMs,
    wholeGroups: field !== undefined && KEY_ORDER_FIELDS.has(field),
    memoryShare: config.workerShare,
  });
  const keyed = combinePartitions(reduced.results, config.dir, options.top, field);
  return {
    keyed,
    info: {
      spilledTasks,
      partitions: config.partitions,
      runs: runs.length,
      bytes: runs.reduce((a, r) => a + r.bytes, 0),
      reducers: reduced.results.map((r) => ({ partition: r.partition, pid: r.timings.pid, ms: r.timings.ms, maxRssMb: r.timings.maxRssKb / 1024 })),
      retries: reduced.retried,
      reduceMs: performance.now() - t0,
    },
  };
}
