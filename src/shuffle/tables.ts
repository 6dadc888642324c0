// The keyed tables a partial may spill, apart from the code that spills
// them: the parent's checks and the worker's "is this partial large?" need
// only these, not the runs' reading and writing.

import type { CountsPartial } from "../core/partial.ts";

/** The tables that grow with the log's distinct keys, and their count columns. */
export const SPILLED_TABLES = { clients: 5, paths: 1, notFoundPaths: 1, referrers: 1, agents: 1, hosts: 3, groups: 8, groupClients: 1 } as const;
export type SpilledTable = keyof typeof SPILLED_TABLES;
export const SPILLED_TABLE_NAMES = Object.keys(SPILLED_TABLES) as SpilledTable[];
/** Tables whose rows may carry response times (a sketch) after their counts. */
export const TIMED_TABLES: ReadonlySet<string> = new Set(["paths", "hosts", "groups"]);

/** The fewest keyed rows any partial may keep inline: below it, spilling costs more than it saves. */
export const MIN_INLINE_ROWS = 1000;

/** A partial's inline keyed rows in `tables` (a --by group counts once, and once more per client it names). */
export function keyedRows(counts: CountsPartial, tables: readonly SpilledTable[] = SPILLED_TABLE_NAMES): number {
  let n = 0;
  for (const t of tables) {
    if (t === "groups") n += counts.groups?.rows.length ?? 0;
    else if (t === "groupClients") for (const g of counts.groups?.rows ?? []) n += g.clients?.length ?? 0;
    else if (t === "hosts") n += counts.hosts?.length ?? 0;
    else n += counts[t].length;
  }
  return n;
}
