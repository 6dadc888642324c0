// `state info FILE` and `state forget FILE [INPUT...]`: what a --state file
// holds, and dropping inputs from it so that the next run counts them again.

import { statSync } from "node:fs";
import { resolve } from "node:path";
import { stateArgs } from "./state-args.ts";
import { checkArgs, parseFlags, UsageError } from "./args.ts";
import { int } from "../report/report.ts";
import { StateStore } from "../state/store.ts";

const plural = (n: number, what: string) => `${int(n)} ${what}${n === 1 ? "" : "s"}`;
const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

function sizeOnDisk(path: string): number {
  let total = 0;
  for (const p of [path, `${path}-wal`, `${path}-shm`]) total += statSync(p, { throwIfNoEntry: false })?.size ?? 0;
  return total;
}

/** Where a stored input is now: its name still the same file, or gone or another file. */
function whereNow(path: string, dev: number, ino: number): string {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return "gone";
  return st.dev === dev && st.ino === ino ? "present" : "renamed (another file has its name)";
}

export function runStateCommand(rawArgs: string[], write: (text: string) => void, warn: (text: string) => void): number {
  const positional = checkArgs(rawArgs, stateArgs);
  const args = parseFlags(rawArgs, stateArgs);
  const [action, file, ...inputs] = positional;
  if (action !== "info" && action !== "forget") throw new UsageError(`state needs info or forget, then the state file${action === undefined ? "" : `, got ${JSON.stringify(action)}`}`);
  if (file === undefined) throw new UsageError(`state ${action} needs the state file`);
  if (action === "info" && inputs.length > 0) throw new UsageError("state info takes only the state file");
  const store = StateStore.open(file, { mustExist: true });
  try {
    if (action === "forget") {
      store.lock();
      const known = store.inputs();
      if (inputs.length === 0) {
        store.dropAll();
        warn(`forgot ${known.length} input${known.length === 1 ? "" : "s"}: the next run counts everything again`);
        return 0;
      }
      for (const name of inputs) {
        const st = statSync(name, { throwIfNoEntry: false });
        const hits = known.filter((i) => resolve(i.path) === resolve(name) || (st !== undefined && i.dev === st.dev && i.ino === st.ino));
        if (hits.length === 0) throw new UsageError(`the state ${file} holds nothing of ${name} (state info ${file} lists what it holds)`);
        for (const hit of hits) store.dropInput(hit.id);
        warn(`forgot ${name}${hits.length > 1 ? ` (${hits.length} inputs)` : ""}: the next run counts it again`);
      }
      return 0;
    }
    const meta = store.meta();
    const rows = store.summary().map((i) => ({
      path: i.path,
      kind: i.kind,
      format: i.format || "combined",
      bytes: i.bytes,
      lines: i.lines,
      partials: i.partials,
      whole: i.whole,
      seenAt: i.seenAt,
      now: whereNow(i.path, i.dev, i.ino),
    }));
    const doc = {
      file,
      sizeOnDisk: sizeOnDisk(file),
      createdAt: meta.createdAt,
      engineVersion: meta.engineVersion,
      partialVersion: meta.partialVersion,
      settings: meta.settings === undefined ? null : JSON.parse(meta.settings),
      inputs: rows,
    };
    if (args.json) {
      write(`${JSON.stringify(doc, null, 2)}\n`);
      return 0;
    }
    const lines = [
      `state ${file}: ${rows.length} input${rows.length === 1 ? "" : "s"}, ${plural(rows.reduce((a, r) => a + r.partials, 0), "partial")}, ${mb(doc.sizeOnDisk)} on disk`,
      `  written by logmr ${meta.engineVersion} (partials v${meta.partialVersion}) since ${meta.createdAt}; counts with ${meta.settings && meta.settings !== "{}" ? meta.settings : "no filter or window"}`,
    ];
    for (const r of rows) {
      const covered = r.kind !== "plain" && r.whole ? "whole" : `${int(r.bytes)} bytes`;
      lines.push(`  ${r.path}  ${r.kind}, ${r.format}, ${covered}, ${int(r.lines)} lines in ${r.partials} partial${r.partials === 1 ? "" : "s"}, last read ${r.seenAt.replace(/\.\d+Z$/, "Z")}, ${r.now}`);
    }
    write(`${lines.join("\n")}\n`);
    return 0;
  } finally {
    store.close();
  }
}
