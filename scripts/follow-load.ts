// What following a busy log costs: a log grows by RATE lines a second (in
// ten bursts a second) for SECONDS seconds while `analyze.ts --follow --json`
// follows it; then the CPU time of the follower and all its workers over the
// wall time, and whether its last document has every line.
//
//   bun scripts/follow-load.ts [--rate 10000] [--seconds 30] [--state]

import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const rate = arg("rate", 10_000);
const seconds = arg("seconds", 30);
const withState = process.argv.includes("--state");
const root = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "logmr-follow-load-"));
const log = join(dir, "access.log");

const gen = Bun.spawnSync([process.execPath, join(root, "analyze.ts"), "generate", "--lines", String(rate * seconds + rate)], { stdout: "pipe" });
const all = gen.stdout;
const ends: number[] = [];
for (let at = all.indexOf(10); at >= 0; at = all.indexOf(10, at + 1)) ends.push(at + 1);
writeFileSync(log, all.subarray(0, ends[rate - 1]));

// /usr/bin/time counts the CPU of the follower and of every worker it waited for.
const follower = Bun.spawn(["/usr/bin/time", "-f", "cpu %U %S wall %e", process.execPath, join(root, "analyze.ts"), log, "--follow", "--json", "--interval", "2", ...(withState ? ["--state", join(dir, "state.db")] : [])], {
  stdout: "pipe", stderr: "pipe",
});
let out = "";
const reading = (async () => {
  for await (const chunk of follower.stdout) out += new TextDecoder().decode(chunk);
})();
const stderr = new Response(follower.stderr).text();
await Bun.sleep(1500);

const t0 = performance.now();
let line = rate;
const perBurst = rate / 10;
for (let burst = 0; burst < seconds * 10; burst++) {
  const next = Math.min(ends.length, line + perBurst);
  appendFileSync(log, all.subarray(ends[line - 1], ends[next - 1]));
  line = next;
  const due = t0 + (burst + 1) * 100;
  await Bun.sleep(Math.max(0, due - performance.now()));
}
const written = line;
// Time for the last poll, then Ctrl-C.
await Bun.sleep(2500);
// GNU time ignores SIGINT while it waits: the signal goes to the follower itself.
for (const pid of childrenOf(follower.pid)) process.kill(pid, "SIGINT");
const code = await follower.exited;
await reading;
const err = await stderr;
const m = /cpu ([\d.]+) ([\d.]+) wall ([\d.]+)/.exec(err);
const docs = out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
const last = docs.at(-1);
rmSync(dir, { recursive: true, force: true });
if (!m || code !== 0) {
  console.error(`the follower exited ${code}: ${err.trim()}`);
  process.exit(1);
}
const cpu = Number(m[1]) + Number(m[2]);
const wall = Number(m[3]);
console.log(`${rate.toLocaleString("en-US")} lines/s for ${seconds} s${withState ? " with --state" : ""}: ${written.toLocaleString("en-US")} lines written, ${last?.data.lines.read.toLocaleString("en-US")} in the last of ${docs.length} documents`);
console.log(`cpu ${cpu.toFixed(2)} s over ${wall.toFixed(1)} s of wall time: ${((100 * cpu) / wall).toFixed(1)}% of one core (first pass and start-up included)`);
if (last?.data.lines.read !== written) process.exit(1);

function childrenOf(pid: number): number[] {
  return readdirSync("/proc").filter((e) => /^\d+$/.test(e)).filter((e) => {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
    } catch {
      return false;
    }
  }).map(Number);
}
