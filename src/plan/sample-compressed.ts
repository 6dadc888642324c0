// Run as a child (`bun src/plan/sample-compressed.ts BYTES FILE CODEC [FILE CODEC ...]`):
// writes, for each file, a 4-byte little-endian length and the first BYTES
// of what it expands to, by the same decoders the workers read it with. The
// planner is synchronous and bzip2/xz/zstd have no synchronous decoder here
// that stops early; gzip is sampled in process (gzipSampleOf).

import { createReadStream } from "node:fs";
import { type Codec, decompress } from "../core/codecs.ts";
import { writeAll } from "../core/fd.ts";

const [wanted, ...pairs] = process.argv.slice(2);
const limit = Number(wanted);
for (let k = 0; k + 1 < pairs.length; k += 2) {
  const chunks: Uint8Array[] = [];
  let got = 0;
  try {
    for await (const chunk of decompress(pairs[k + 1] as Codec, createReadStream(pairs[k]!, { highWaterMark: 1 << 16 }))) {
      chunks.push(chunk.subarray(0, limit - got));
      got += chunks.at(-1)!.length;
      if (got >= limit) break;
    }
  } catch {
    // What came out is the sample; reading the file later says what is wrong with it.
  }
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, got, true);
  writeAll(1, length);
  for (const c of chunks) writeAll(1, c);
}
process.exit(0);
