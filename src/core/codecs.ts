// Compressed logs: which codec a file or a stream is in, from its first bytes,
// and how to read it as a stream (memory bounded by the stream's buffers
// whatever the expanded size, so a decompression bomb is just a long input).

export type Codec = "gzip" | "zstd" | "bzip2" | "xz";

/** How an input is read: plain text, standard input, or a compressed file's codec. */
export type InputFormat = "plain" | "stdin" | Codec;

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

/** Codecs read here: gzip and zstd by Bun's zlib, bzip2 and xz by npm packages (unbzip2-stream, xz-decompress). */
export const READABLE_CODECS: readonly Codec[] = ["gzip", "zstd", "bzip2", "xz"];

/** The command that decompresses `codec` to stdout, for messages. */
export function pipeCommand(codec: Codec): string {
  return { gzip: "zcat", zstd: "zstdcat", bzip2: "bzcat", xz: "xzcat" }[codec];
}

/**
 * The decompressed bytes of `source`, as a stream (the decoders are loaded
 * when needed: each costs start-up that plain inputs need not pay). Errors
 * of the compressed data come out as DecompressError.
 */
export async function* decompress(codec: Codec, source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const { PassThrough, Readable } = await import("node:stream");
  const input = Readable.from(source, { objectMode: false });
  let output: AsyncIterable<Uint8Array>;
  if (codec === "gzip" || codec === "zstd") {
    const zlib = await import("node:zlib");
    const inflate = codec === "gzip" ? zlib.createGunzip({ chunkSize: 1 << 18 }) : zlib.createZstdDecompress({ chunkSize: 1 << 18 });
    input.on("error", (err) => inflate.destroy(err));
    output = input.pipe(inflate) as AsyncIterable<Uint8Array>;
  } else if (codec === "bzip2") {
    // An old-style stream: piped on into a PassThrough, which can be iterated.
    const bunzip = (await import("unbzip2-stream")).default();
    const out = new PassThrough();
    bunzip.on("error", (err: Error) => out.destroy(err));
    input.on("error", (err) => out.destroy(err));
    output = input.pipe(bunzip).pipe(out) as AsyncIterable<Uint8Array>;
  } else {
    const { XzReadableStream } = (await import("xz-decompress")) as unknown as { XzReadableStream: new (s: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array> };
    output = new XzReadableStream(Readable.toWeb(input) as ReadableStream<Uint8Array>) as unknown as AsyncIterable<Uint8Array>;
  }
  try {
    for await (const chunk of output) yield chunk;
  } catch (err) {
    if (err instanceof DecompressError) throw err;
    throw new DecompressError(err instanceof Error ? err.message : String(err));
  }
}

/** The compressed data is not valid for its codec. */
export class DecompressError extends Error {}
