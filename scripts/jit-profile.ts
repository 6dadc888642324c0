// Names JIT-compiled code in a `perf` profile of a Bun process, and shows
// where the samples fall inside one compiled function. See docs/profiling.md.
//
//   bun scripts/jit-profile.ts map JITDUMP             writes /tmp/perf-PID.map (perf report then names JS functions)
//   bun scripts/jit-profile.ts annotate JITDUMP PERF_DATA "FTL: countBlock"
//
// JITDUMP is the jit-TID-PID.dump file JavaScriptCore writes with
// BUN_JSC_useJITDump=1 (perf's own `inject --jit` expects jit-PID.dump).

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

const [command, dumpPath, dataPath, wanted] = process.argv.slice(2);
if (!command || !dumpPath || (command === "annotate" && (!dataPath || !wanted)) || !["map", "annotate"].includes(command)) {
  console.error('usage: bun scripts/jit-profile.ts map JITDUMP | annotate JITDUMP PERF_DATA "FTL: name"');
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
} else {
  const script = Bun.spawnSync(["perf", "script", "-i", dataPath!, "-F", "ip"], { stdout: "pipe", stderr: "ignore" });
  const hits = new Map<bigint, number>();
  for (const line of script.stdout.toString().split("\n")) {
    const ip = line.trim();
    if (ip) hits.set(BigInt(`0x${ip}`), (hits.get(BigInt(`0x${ip}`)) ?? 0) + 1);
  }
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
  console.log(`${best.f.name}: ${best.n} samples, ${best.f.size} bytes of code`);
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
