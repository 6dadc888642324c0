import { describe, expect, test } from "bun:test";
import { INDEXED_KEY_BYTES, KeyCache, KeyStartIndex, KeyTable, lineEndKeyFind, MAX_SHARING_START, viewOf } from "../src/count/fast/keys.ts";
import { binary } from "./oracle.ts";

function internAll(keys: string[]): KeyTable {
  const table = new KeyTable(1, 4);
  const enc = new TextEncoder();
  for (const key of keys) {
    const bytes = enc.encode(`xx${key}yy`); // keys not at offset 0 of their buffer
    const id = table.intern(bytes, viewOf(bytes), 2, bytes.length - 2);
    table.values[id]!++;
  }
  return table;
}

function expectCountsLikeMap(keys: string[]): void {
  const expected = new Map<string, number>();
  for (const k of keys) expected.set(k, (expected.get(k) ?? 0) + 1);
  const table = internAll(keys);
  const got = new Map(table.entries().map(([k, n]) => [new TextDecoder().decode(Uint8Array.from(k, (c) => c.charCodeAt(0))), n]));
  expect(table.size).toBe(expected.size);
  expect(got).toEqual(expected);
}

describe("KeyTable", () => {
  test("counts like a Map for short and long keys, with growth", () => {
    const keys: string[] = [];
    for (let k = 0; k < 20_000; k++) keys.push(k % 3 === 0 ? `k${k % 5000}` : `a long key that is sampled, number ${k % 3000} and tail`);
    expectCountsLikeMap(keys);
  });

  test("keys that differ only between the sampled words stay distinct (and switch to whole-key hashing)", () => {
    // Same length, same first/middle/last bytes: only an unsampled byte differs.
    const keys: string[] = [];
    for (let r = 0; r < 3; r++) for (let k = 0; k < 200; k++) keys.push(`Mozilla/5.0 (X11; Linux x86_64) Chrome/1${String(k).padStart(3, "0")}.0.0.0 Safari/537.36 end`);
    expectCountsLikeMap(keys);
  });

  test("keys whose 8-byte words read as +0/-0 or as NaNs are told apart exactly", () => {
    const words = [
      [0, 0, 0, 0, 0, 0, 0, 0], // +0
      [0, 0, 0, 0, 0, 0, 0, 0x80], // -0
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // NaN
      [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // another NaN
      [0x01, 0, 0, 0, 0, 0, 0xf8, 0xff], // a negative NaN
    ];
    const table = new KeyTable();
    const ids: number[] = [];
    for (let round = 0; round < 2; round++) {
      for (const w of words) {
        for (const suffix of [[], [1, 2, 3]]) {
          const bytes = Uint8Array.from([9, ...w, ...w, ...suffix]);
          const id = table.intern(bytes, viewOf(bytes), 1, bytes.length);
          if (round === 0) ids.push(id);
          else expect(id).toBe(ids.shift()!);
        }
      }
    }
    expect(table.size).toBe(words.length * 2);
  });

  test("empty key, one-byte keys and bytes above 0x7f are exact", () => {
    const table = new KeyTable();
    const bytes = Uint8Array.from([0xff, 0x00, 0x80, 0x41]);
    const v = viewOf(bytes);
    expect(table.intern(bytes, v, 0, 0)).toBe(0);
    expect(table.intern(bytes, v, 0, 1)).toBe(1);
    expect(table.intern(bytes, v, 1, 2)).toBe(2);
    expect(table.intern(bytes, v, 0, 4)).toBe(3);
    expect(table.intern(bytes, v, 0, 1)).toBe(1);
    expect(table.find(bytes, v, 2, 4)).toBe(-1);
    expect(table.keyOf(3)).toBe(binary(bytes));
  });
});

/** Seeded bytes, so a failure reproduces. */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let k = 0; k < n; k++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[k] = 32 + ((x >>> 24) % 95);
  }
  return out;
}

/** `key` at byte `at` of a view starting `byteOffset` bytes into a fresh buffer. */
function placed(key: Uint8Array, byteOffset: number, at: number): Uint8Array {
  const buf = new Uint8Array(new ArrayBuffer(byteOffset + at + key.length + 24), byteOffset);
  buf.fill(0x2e);
  buf.set(key, at);
  return buf;
}

describe("KeyTable compares whole words from any alignment", () => {
  const lengths = [8, 9, 15, 16, 17, 40, 91, 130];
  test.each(lengths)("a %i-byte key: found from every alignment, and a changed byte anywhere is another key", (len) => {
    const table = new KeyTable();
    const key = randomBytes(len, len);
    const first = placed(key, 3, 5);
    const id = table.intern(first, viewOf(first), 5, 5 + len);
    for (let byteOffset = 0; byteOffset < 4; byteOffset++) {
      for (let at = 0; at < 8; at++) {
        const buf = placed(key, byteOffset, at);
        const v = viewOf(buf);
        expect(table.find(buf, v, at, at + len)).toBe(id);
        for (let j = 0; j < len; j++) {
          buf[at + j]! ^= 1;
          expect(table.find(buf, v, at, at + len)).toBe(-1);
          buf[at + j]! ^= 1;
        }
        // The bytes just outside the key share its first and last words: they must not count.
        for (const j of [-3, -2, -1, len, len + 1, len + 2]) {
          if (at + j < 0) continue;
          buf[at + j]! ^= 1;
          expect(table.find(buf, v, at, at + len)).toBe(id);
          buf[at + j]! ^= 1;
        }
      }
    }
  });

  test.each(lengths)("a %i-byte key that ends a buffer of any length (no whole last word) is found, and a changed last byte misses", (len) => {
    const table = new KeyTable();
    const key = randomBytes(len, len + 1);
    const first = placed(key, 0, 4);
    const id = table.intern(first, viewOf(first), 4, 4 + len);
    for (let at = 0; at < 4; at++) {
      const buf = new Uint8Array(at + len);
      buf.set(key, at);
      const v = viewOf(buf);
      expect(table.find(buf, v, at, at + len)).toBe(id);
      buf[at + len - 1]! ^= 1;
      expect(table.find(buf, v, at, at + len)).toBe(-1);
    }
  });
});

describe("KeyCache", () => {
  test.each([5, 15, 16, 17, 30, 48])("a %i-byte key: equal bytes hit, a changed byte inside the key misses, the limit is honoured", (len) => {
    const cache = new KeyCache(16, 48);
    const key = randomBytes(len + 16, len);
    const first = placed(key, 1, 3);
    cache.add(first, viewOf(first), 3, len, 77);
    for (let byteOffset = 0; byteOffset < 4; byteOffset++) {
      for (let at = 0; at < 5; at++) {
        const buf = placed(key, byteOffset, at);
        const v = viewOf(buf);
        const id = cache.find(v, at, at + len);
        expect(id).toBeGreaterThanOrEqual(0);
        expect(cache.payloads[id]).toBe(77);
        expect(cache.lengths[id]).toBe(len);
        expect(cache.find(v, at, at + len - 1)).toBe(-1);
        for (let j = 0; j < len; j++) {
          buf[at + j]! ^= 4;
          expect(cache.find(v, at, at + len)).toBe(-1);
          buf[at + j]! ^= 4;
        }
      }
    }
  });

  test("its storage grows with the entries: every one of 1,000 keys stays found", () => {
    const cache = new KeyCache(1024, 32);
    const bufs = Array.from({ length: 1000 }, (_, k) => randomBytes(40, 1000 + k));
    for (const [k, b] of bufs.entries()) cache.add(b, viewOf(b), 0, 17 + (k % 16), k);
    for (const [k, b] of bufs.entries()) {
      const id = cache.find(viewOf(b), 0, 40);
      expect(id).toBeGreaterThanOrEqual(0);
      expect(cache.payloads[id]).toBe(k);
      expect(cache.lengths[id]).toBe(17 + (k % 16));
    }
  });

  test("when full it starts over instead of growing", () => {
    const cache = new KeyCache(4, 32);
    const bufs = [0, 1, 2, 3, 4].map((k) => randomBytes(32, 100 + k));
    for (const [k, b] of bufs.entries()) cache.add(b, viewOf(b), 0, 20, k);
    // the fifth add cleared the four before it
    expect(cache.find(viewOf(bufs[0]!), 0, 32)).toBe(-1);
    const id = cache.find(viewOf(bufs[4]!), 0, 32);
    expect(cache.payloads[id]).toBe(4);
  });
});

describe("KeyStartIndex: a key found from its start, ended by a quote and a line end", () => {
  const enc = new TextEncoder();
  // Three keys sharing the bytes the index hashes (one a prefix of another, two of one length), and one that does not.
  const keys = ['-" "Mozilla/5.0 (X11; Linux)', '-" "Mozilla/5.0 (X11; Linux) Gecko', '-" "Mozilla/5.0 (X11; Linuz)', 'https://example.com/" "curl/8.4.0'];
  function indexed(): { table: KeyTable; index: KeyStartIndex } {
    const table = new KeyTable(1, 4);
    const index = new KeyStartIndex(64);
    for (const key of keys) {
      const bytes = enc.encode(`${key}"\n`);
      const view = viewOf(bytes);
      index.add(table, view, 0, table.intern(bytes, view, 0, key.length));
    }
    return { table, index };
  }
  /** lineEndKeyFind on `text` placed at `at` of a buffer at byte offset `byteOffset`, with the limit `cut` bytes before the text's end. */
  function find(text: string, at = 5, byteOffset = 0, cut = 0): string | number {
    const { table, index } = indexed();
    const bytes = enc.encode(text);
    const buf = placed(bytes, byteOffset, at);
    const id = lineEndKeyFind(index, table, buf, viewOf(buf), new Int32Array(buf.buffer, 0, buf.buffer.byteLength >> 2), at, at + bytes.length - cut);
    return id < 0 ? id : keys[id]!;
  }
  test.each<[string, string | number]>([
    ['-" "Mozilla/5.0 (X11; Linux)"\n', keys[0]!],
    ['-" "Mozilla/5.0 (X11; Linux) Gecko"\n', keys[1]!],
    ['-" "Mozilla/5.0 (X11; Linux) Gecko"\r\n', keys[1]!],
    ['-" "Mozilla/5.0 (X11; Linuz)"\nnext line', keys[2]!],
    ['https://example.com/" "curl/8.4.0"\n', keys[3]!],
    ['-" "Mozilla/5.0 (X11; Linux) Geckx"\n', -1], // same length as a key, one byte differs
    ['-" "Mozilla/5.0 (X11; Linuy)"\n', -1], // likewise, past the hashed bytes
    ['-" "Mozilla/5.0 (X11; Linux) Gecko 2"\n', -1], // a key, then more before the quote
    ['-" "Mozilla/5.0 (X11; Linux)" \n', -1], // not a line end after the quote
    ['-" "Mozilla/5.0 (X11; Linux)"\r\r\n', -1],
    ['-" "Mozilla/5.0 (X11; Linux)"x\n', -1],
    ['-" "Mozilla/5.0 (X11; Linux)x\n', -1], // a key, then a line end without the quote
    ['-" "Mozilla/5.0 (Y11; Linux)"\n', -1], // differs from a key inside the hashed bytes
  ])("%j -> %p", (text, expected) => {
    for (let byteOffset = 0; byteOffset < 4; byteOffset++) expect(find(text, 5, byteOffset)).toBe(expected);
  });

  test("the quote and the line end must lie before the limit", () => {
    expect(find('-" "Mozilla/5.0 (X11; Linux)"\n', 5, 0, 0)).toBe(keys[0]!);
    expect(find('-" "Mozilla/5.0 (X11; Linux)"\n', 5, 0, 1)).toBe(-1);
    expect(find('-" "Mozilla/5.0 (X11; Linux)"\r\n', 5, 0, 1)).toBe(-1);
    expect(find('-" "Mozilla/5.0 (X11; Linux)"\n', 5, 0, 10)).toBe(-1);
  });

  test(`keys under ${INDEXED_KEY_BYTES} bytes are not indexed (the bytes hashed at their start would include the next line's)`, () => {
    const table = new KeyTable(1, 4);
    const index = new KeyStartIndex(64);
    const bytes = enc.encode('-" "curl/8.4"\nABCDEFGH');
    const view = viewOf(bytes);
    index.add(table, view, 0, table.intern(bytes, view, 0, 12));
    expect(lineEndKeyFind(index, table, bytes, view, new Int32Array(bytes.buffer, 0, bytes.buffer.byteLength >> 2), 0, bytes.length)).toBe(-1);
  });

  test("grows with its keys, holds a key added twice once, and starts over when full", () => {
    const table = new KeyTable(1, 4);
    const index = new KeyStartIndex(256);
    const lines = Array.from({ length: 300 }, (_, k) => enc.encode(`key number ${String(k).padStart(5, "0")} of many"\n`));
    const look = (k: number) => {
      const b = lines[k]!;
      return lineEndKeyFind(index, table, b, viewOf(b), new Int32Array(b.buffer, 0, b.buffer.byteLength >> 2), 0, b.length);
    };
    const add = (k: number) => {
      const b = lines[k]!;
      const view = viewOf(b);
      const id = table.intern(b, view, 0, b.length - 2);
      index.add(table, view, 0, id);
      return id;
    };
    for (let k = 0; k < 200; k++) {
      add(k);
      expect(look(k)).toBe(add(k));
    }
    // 200 keys added twice fit in 256 entries: none was dropped.
    for (let k = 0; k < 200; k++) expect(look(k)).toBe(k);
    // The 257th key starts it over: early keys are gone, the ones since stay.
    for (let k = 200; k < 300; k++) add(k);
    expect(look(0)).toBe(-1);
    for (let k = 256; k < 300; k++) expect(look(k)).toBe(k);
  });

  test.each([MAX_SHARING_START, MAX_SHARING_START + 1])("%i keys sharing the bytes hashed at their start: all found up to the limit, none (-2) past it", (n) => {
    const table = new KeyTable(1, 4);
    const index = new KeyStartIndex(256);
    const lineOf = (k: number) => enc.encode(`-" "Mozilla/5.0 (Windows NT 10.0) Chrome/${k}"\n`);
    const other = enc.encode('https://example.com/" "curl/8.4.0"\n');
    const add = (b: Uint8Array) => {
      const view = viewOf(b);
      const id = table.intern(b, view, 0, b.length - 2);
      index.add(table, view, 0, id);
      return id;
    };
    const look = (b: Uint8Array) => lineEndKeyFind(index, table, b, viewOf(b), new Int32Array(b.buffer, 0, b.buffer.byteLength >> 2), 0, b.length);
    const otherId = add(other);
    const ids = Array.from({ length: n }, (_, k) => add(lineOf(k)));
    for (let k = 0; k < n; k++) expect(look(lineOf(k))).toBe(n > MAX_SHARING_START ? -2 : ids[k]!);
    expect(look(lineOf(n + 1))).toBe(n > MAX_SHARING_START ? -2 : -1);
    // Another start is unaffected.
    expect(look(other)).toBe(otherId);
  });
});
