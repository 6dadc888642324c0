// Compressed logs: which codec a file or a stream is in, from its first bytes,
// and how to read it as a stream (memory bounded by the stream's buffers
// whatever the expanded size, so a decompression bomb is just a long input).

export type Codec = "gzip" | "zstd" | "bzip2" | "xz";

const MAGIC: Array<[Codec, number[]]> = [
  ["gzip", [0x1f, 0x8b]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["bzip2", [0x42, 0x5a, 0x68]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
];
/** Bytes to read to tell every codec apart. */
export const MAGIC_BYTES = 6;

/** The codec whose magic bytes `head` starts with, or null for plain text. */
export function codecOf(head: Uint8Array): Codec | null {
  for (const [codec, magic] of MAGIC) if (magic.every((b, k) => head[k] === b)) return codec;
  return null;
}

/** Codecs this runtime decompresses (Bun's zlib has gzip and zstd). */
export const READABLE_CODECS: readonly Codec[] = ["gzip", "zstd"];

/** The command that decompresses `codec` to stdout, for the message that names what to pipe in. */
export function pipeCommand(codec: Codec): string {
  return { gzip: "zcat", zstd: "zstdcat", bzip2: "bzcat", xz: "xzcat" }[codec];
}

/** A decompressing transform for `codec` (loaded when needed: node:zlib costs start-up). */
export async function decompressor(codec: Codec): Promise<import("node:stream").Transform> {
  const zlib = await import("node:zlib");
  if (codec === "gzip") return zlib.createGunzip({ chunkSize: 1 << 18 });
  if (codec === "zstd") return zlib.createZstdDecompress({ chunkSize: 1 << 18 });
  throw new Error(`${codec} cannot be read here`);
}
