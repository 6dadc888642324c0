// The parent's side of a reduce by partition: partitions hold disjoint keys,
// so a table's top-N is the top-N of the partitions' top-Ns, its distinct
// keys the sum of theirs, and the suspicious-client rule's medians come from
// the merged (requests, errors) pairs. Nothing is approximated.

import { join } from "node:path";
import type { ClientRow, GroupRow, HostRow, KeyCount } from "../core/partial.ts";
import { KEY_ORDER_FIELDS } from "../count/by-fields.ts";
import type { SketchData } from "../core/sketch.ts";
import { keyText } from "../report/report.ts";
import { type ClientPair, judgeClient, suspicionRule, suspiciousOrder, type SuspiciousClient } from "../report/suspicious.ts";
import type { PartitionResult } from "./reduce-partition.ts";
import { RunReader } from "./runs.ts";

export type RankedTable = "paths" | "notFoundPaths" | "referrers" | "agents";

/** The keyed part of a report, from the reducers instead of whole tables. */
export interface KeyedSummary {
  clients?: { distinct: number; top: ClientRow[]; suspicious: SuspiciousClient[] };
  tables: Partial<Record<RankedTable, { distinct: number; total: number; top: KeyCount[] }>>;
  /** The top hosts by requests, with their times (null without). */
  hosts?: HostRow[];
  /** --by: the groups the report shows (a top list, or all in key order), each with its distinct clients (null by client); `count`: all groups. */
  groups?: { count: number; rows: GroupRow[] };
  /** The response times of the paths the report can show (the top paths, the slowest): what latency.byPath would hold of them. */
  pathTimes?: Array<[string, SketchData]>;
}

const better = (a: [string, ...number[]], b: [string, ...number[]]) => b[1]! - a[1]! || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** Combines the partitions' results; reads the clients that may be suspicious from the candidate files in `dir`. */
export function combinePartitions(results: readonly PartitionResult[], dir: string, top: number, groupsField?: string): KeyedSummary {
  const summary: KeyedSummary = { tables: {} };
  const hostParts = results.map((r) => r.tables.hosts).filter((t) => t !== undefined);
  if (hostParts.length > 0) {
    summary.hosts = hostParts
      .flatMap((t) => t.top.map(([host, n, c4, c5, times]) => [host, n, c4, c5, (times as unknown as SketchData | undefined) ?? null] as HostRow))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, top);
  }
  const groupParts = results.map((r) => r.tables.groups).filter((t) => t !== undefined);
  if (groupParts.length > 0 && groupsField !== undefined) {
    const rows = groupParts.flatMap((t) =>
      t.top.map((row, k): GroupRow => {
        const [key, requests, bytes, c1, c2, c3, c4, c5, other, latency] = row as unknown as [string, number, number, number, number, number, number, number, number, SketchData?];
        return { key, requests, bytes, classes: [c1, c2, c3, c4, c5, other], clients: null, distinctClients: groupsField === "client" ? null : (t.clients?.[k] ?? 0), latency: latency ?? null };
      }),
    );
    const byKey = (a: GroupRow, b: GroupRow) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
    summary.groups = {
      count: groupParts.reduce((a, t) => a + t.distinct, 0),
      rows: KEY_ORDER_FIELDS.has(groupsField) ? rows.sort(byKey) : rows.sort((a, b) => b.requests - a.requests || byKey(a, b)).slice(0, top),
    };
  }
  for (const table of ["paths", "notFoundPaths", "referrers", "agents"] as const) {
    const parts = results.map((r) => r.tables[table]).filter((t) => t !== undefined);
    if (parts.length === 0) continue;
    summary.tables[table] = {
      distinct: parts.reduce((a, t) => a + t.distinct, 0),
      total: parts.reduce((a, t) => a + t.sums[0]!, 0),
      top: parts.flatMap((t) => t.top.map((row) => [row[0], row[1]] as KeyCount)).sort(better).slice(0, top),
    };
    if (table !== "paths") continue;
    // A path is in one partition: its times there are all of its times.
    const times = new Map<string, SketchData>();
    for (const t of parts) {
      for (const row of t.top) if (row.length > 2) times.set(row[0], row[2] as unknown as SketchData);
      for (const [path, s] of t.slowest ?? []) times.set(path, s);
    }
    if (times.size > 0) summary.pathTimes = [...times].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
  const clientParts = results.map((r) => r.tables.clients).filter((t) => t !== undefined);
  if (clientParts.length > 0) {
    const pairs = new Map<string, [number, number, number]>();
    for (const r of results) {
      for (const [requests, errors, n] of r.clientPairs) {
        const key = `${requests} ${errors}`;
        const seen = pairs.get(key);
        if (seen) seen[2] += n;
        else pairs.set(key, [requests, errors, n]);
      }
    }
    const rule = suspicionRule([...pairs.values()] as ClientPair[]);
    const suspicious: SuspiciousClient[] = [];
    if (rule) {
      for (const r of results) {
        if (!r.candidates) continue;
        const reader = new RunReader(join(dir, r.candidates.file));
        try {
          while (reader.next()) {
            const [client, requests, errors] = reader.row as [string, number, number];
            const s = judgeClient(rule, { client: keyText(client), requests, errors });
            if (s) suspicious.push(s);
          }
        } finally {
          reader.close();
        }
      }
    }
    summary.clients = {
      distinct: clientParts.reduce((a, t) => a + t.distinct, 0),
      top: (clientParts.flatMap((t) => t.top) as ClientRow[]).sort(better).slice(0, top),
      suspicious: suspicious.sort(suspiciousOrder),
    };
  }
  return summary;
}
