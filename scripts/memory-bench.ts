// Peak memory of a whole run: the resident memory of the analyzer and all
// its children, summed and sampled every 20 ms from /proc, with the wall
// time and what the run itself reports per process.
//
//   bun scripts/memory-bench.ts FILE [--data OUT] [analyze options...]
//
// --data OUT writes the report's data (the --json "data" member) to OUT, to
// compare the counts of two runs byte for byte (cmp).
//
// For example, on 2,000,000 lines with a client each:
//   bun analyze.ts generate --lines 2M --cardinality high -o /tmp/high.log
//   bun scripts/memory-bench.ts /tmp/high.log --workers 2

import { readdirSync, readFileSync, writeFileSync } from "node:fs";

const args = process.argv.slice(2);
const dataAt = args.indexOf("--data");
const dataOut = dataAt >= 0 ? args.splice(dataAt, 2)[1] : undefined;
if (args.length === 0) {
  console.error("usage: bun scripts/memory-bench.ts FILE [analyze options...]");
  process.exit(2);
}
const root = new URL("..", import.meta.url).pathname;

/** pid -> [parent pid, resident KiB] of every process. */
function processes(): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // statm's second field: resident pages.
      const rss = Number(readFileSync(`/proc/${e}/statm`, "utf8").split(" ")[1]) * 4;
      out.set(Number(e), [Number(fields[1]), rss]);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function treeRss(root: number): number {
  const all = processes();
  let total = 0;
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    total += all.get(pid)?.[1] ?? 0;
    for (const [child, [parent]] of all) if (parent === pid) todo.push(child);
  }
  return total;
}

const t0 = performance.now();
const child = Bun.spawn([process.execPath, `${root}analyze.ts`, ...args, "--json", "--quiet"], { stdout: "pipe", stderr: "pipe" });
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, treeRss(child.pid))), 20);
const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
clearInterval(sampler);
const wall = (performance.now() - t0) / 1000;
if (code !== 0) {
  console.error(`the run exited ${code}: ${stderr.trim()}`);
  process.exit(1);
}
const doc = JSON.parse(stdout);
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
console.log(`${args.join(" ")}: ${doc.data.lines.read.toLocaleString("en-US")} lines, ${doc.data.uniqueClients.toLocaleString("en-US")} clients, ${wall.toFixed(2)} s`);
console.log(`peak resident memory of the whole run (sampled every 20 ms): ${mb(peak)}; parent ${doc.run.parentMaxRssMb.toFixed(0)} MB, workers ${doc.run.workerTimings.map((w: { maxRssMb: number }) => `${w.maxRssMb.toFixed(0)} MB`).join(", ")} (each its own peak)`);
const memory = doc.run.memory;
if (memory?.spilled) {
  console.log(`spilled ${mb(memory.bytes / 1024)} in ${memory.runs} runs (${memory.spilledTasks} of ${doc.run.tasks} tasks); reducers ${memory.reducers.map((r: { maxRssMb: number }) => `${r.maxRssMb.toFixed(0)} MB`).join(", ")}`);
} else if (memory) {
  console.log(`budget ${memory.budgetMb.toFixed(0)} MB: nothing spilled`);
}
if (dataOut) writeFileSync(dataOut, JSON.stringify(doc.data));
