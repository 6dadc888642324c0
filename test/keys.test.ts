import { describe, expect, test } from "bun:test";
import { KeyTable, viewOf } from "../src/keys.ts";
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
