// Names JIT-compiled code in a `perf` or callgrind profile of a Bun process,
// and shows where the samples (or instructions) fall inside one compiled
// function. See docs/profiling.md.
//
//   bun scripts/jit-profile.ts map JITDUMP             writes /tmp/perf-PID.map (perf report then names JS functions)
//   bun scripts/jit-profile.ts annotate JITDUMP PERF_DATA "FTL: countBlock"
//   bun scripts/jit-profile.ts functions JITDUMP CALLGRIND_OUT [N]   instructions by compiled function (the N largest)
//   bun scripts/jit-profile.ts annotate JITDUMP CALLGRIND_OUT "FTL: countBlock"
//
// JITDUMP is the jit-TID-PID.dump file JavaScriptCore writes with
// BUN_JSC_useJITDump=1 (perf's own `inject --jit` expects jit-PID.dump);
// CALLGRIND_OUT a `valgrind --tool=callgrind --dump-instr=yes` file of the
// same run.

export {};

interface JitFunction {
  name: string;
  address: bigint;
  size: number;
  code: Uint8Array;
}

/** The code-load records of a jitdump file (format: tools/perf/Documentation/jitdump-specification.txt). */
function readJitDump(bytes: Uint8Array): JitFunction[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: JitFunction[] = [];
  let p = view.getUint32(8, true); // header size
  while (p + 16 <= bytes.length) {
    const kind = view.getUint32(p, true);
    const size = view.getUint32(p + 4, true);
    if (size === 0) break;
    if (kind === 0) {
      const address = view.getBigUint64(p + 32, true);
      const codeSize = Number(view.getBigUint64(p + 40, true));
      let q = p + 56;
      let name = "";
      while (bytes[q] !== 0 && q < p + size) name += String.fromCharCode(bytes[q++]!);
      out.push({ name, address, size: codeSize, code: bytes.slice(q + 1, q + 1 + codeSize) });
    }
    p += size;
  }
  return out;
}

/**
 * Self instruction counts by address from a callgrind file written with
 * --dump-instr=yes: cost lines are "ADDRESS LINE COUNT", the address absolute
 * (0x...), relative to the last (+N, -N) or the same (*); the line after a
 * calls= line is a call's inclusive cost, not the caller's own.
 */
function readCallgrind(text: string): Map<bigint, number> {
  const hits = new Map<bigint, number>();
  let last = 0n;
  let callCost = false;
  for (const line of text.split("\n")) {
    const first = line[0];
    if (first === undefined || !"0123456789+-*".includes(first)) {
      if (line.startsWith("calls=")) callCost = true;
      continue;
    }
    const parts = line.split(" ");
    const at = parts[0]!;
    const offset = (x: string) => BigInt(x.startsWith("0x") ? x : `${x}`);
    if (at.startsWith("0x")) last = BigInt(at);
    else if (at[0] === "+") last += offset(at.slice(1));
    else if (at[0] === "-") last -= offset(at.slice(1));
    else if (at !== "*") last = BigInt(at);
    if (callCost) {
      callCost = false;
      continue;
    }
    if (parts.length >= 3) hits.set(last, (hits.get(last) ?? 0) + Number(parts.at(-1)));
  }
  return hits;
}

/** Samples by address from `perf script`. */
function readPerf(dataPath: string): Map<bigint, number> {
  const script = Bun.spawnSync(["perf", "script", "-i", dataPath, "-F", "ip"], { stdout: "pipe", stderr: "ignore" });
  const hits = new Map<bigint, number>();
  for (const line of script.stdout.toString().split("\n")) {
    const ip = line.trim();
    if (ip) hits.set(BigInt(`0x${ip}`), (hits.get(BigInt(`0x${ip}`)) ?? 0) + 1);
  }
  return hits;
}

/** A profile's counts by address: a callgrind file is told by its first line. */
async function readHits(dataPath: string): Promise<Map<bigint, number>> {
  const head = await Bun.file(dataPath).slice(0, 64).text();
  return head.startsWith("# callgrind format") ? readCallgrind(await Bun.file(dataPath).text()) : readPerf(dataPath);
}

const [command, dumpPath, dataPath, wanted] = process.argv.slice(2);
if (!command || !dumpPath || (command !== "map" && !dataPath) || (command === "annotate" && !wanted) || !["map", "annotate", "functions"].includes(command)) {
  console.error('usage: bun scripts/jit-profile.ts map JITDUMP | functions JITDUMP CALLGRIND_OUT [N] | annotate JITDUMP PERF_DATA|CALLGRIND_OUT "FTL: name"');
  process.exit(2);
}
const functions = readJitDump(new Uint8Array(await Bun.file(dumpPath).arrayBuffer()));

if (command === "map") {
  const pid = /jit-(?:\d+-)?(\d+)\.dump$/.exec(dumpPath)?.[1];
  if (!pid) {
    console.error(`cannot tell the process id from ${dumpPath}`);
    process.exit(2);
  }
  const lines = functions.map((f) => `${f.address.toString(16)} ${f.size.toString(16)} ${f.name.replace(/\s+/g, "_")}`);
  await Bun.write(`/tmp/perf-${pid}.map`, `${lines.join("\n")}\n`);
  console.log(`/tmp/perf-${pid}.map: ${lines.length} functions`);
} else if (command === "functions") {
  const hits = await readHits(dataPath!);
  const sorted = [...functions].sort((a, b) => (a.address < b.address ? -1 : 1));
  const byName = new Map<string, number>();
  let elsewhere = 0;
  for (const [ip, count] of hits) {
    // The last function starting at or before ip, if ip is inside it (binary search).
    let lo = 0;
    let hi = sorted.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (sorted[mid]!.address <= ip) lo = mid;
      else hi = mid - 1;
    }
    const f = sorted[lo];
    if (f && f.address <= ip && ip < f.address + BigInt(f.size)) {
      const name = f.name.replace(/#\w+/, "");
      byName.set(name, (byName.get(name) ?? 0) + count);
    } else elsewhere += count;
  }
  const total = [...byName.values()].reduce((a, b) => a + b, 0);
  console.log(`compiled JS ${(total / 1e6).toFixed(1)}M, elsewhere (Bun, the compilers, libc) ${(elsewhere / 1e6).toFixed(1)}M`);
  for (const [name, n] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, Number(wanted ?? 30))) console.log(`${(n / 1e6).toFixed(1).padStart(10)}M  ${name}`);
} else {
  const hits = await readHits(dataPath!);
  const samplesIn = (f: JitFunction) => {
    let n = 0;
    for (const [ip, count] of hits) if (ip >= f.address && ip < f.address + BigInt(f.size)) n += count;
    return n;
  };
  // A function is often compiled several times (tiers, recompilations): take its busiest version.
  const ranked = functions.filter((f) => f.name.includes(wanted!)).map((f) => ({ f, n: samplesIn(f) })).sort((a, b) => b.n - a.n);
  const best = ranked[0];
  if (!best) {
    console.error(`no compiled function named like ${JSON.stringify(wanted)}`);
    process.exit(1);
  }
  console.log(`${best.f.name}: ${best.n} samples or instructions, ${best.f.size} bytes of code`);
  const codeFile = `/tmp/jit-profile-${process.pid}.bin`;
  await Bun.write(codeFile, best.f.code);
  const dis = Bun.spawnSync(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", `--adjust-vma=0x${best.f.address.toString(16)}`, codeFile], { stdout: "pipe" });
  for (const line of dis.stdout.toString().split("\n")) {
    const at = /^\s*([0-9a-f]+):/.exec(line)?.[1];
    if (!at) continue;
    const n = hits.get(BigInt(`0x${at}`)) ?? 0;
    console.log(`${n ? String(n).padStart(6) : "      "} ${line}`);
  }
}
