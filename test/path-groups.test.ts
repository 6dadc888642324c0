import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkPathGroups, PathGrouper } from "../src/count/path-groups.ts";
import { binary, oracleCount, oracleRoute, sorted } from "./oracle.ts";
import { cli, cliJson } from "./helpers.ts";

describe("the default folds", () => {
  const cases: Array<[string, string]> = [
    ["/item/123", "/item/:id"],
    ["/item/123/", "/item/:id/"],
    ["/item/123/reviews/9", "/item/:id/reviews/:id"],
    ["/u/0f8fad5b-d9cb-469f-a165-70867728950e", "/u/:uuid"],
    ["/u/0F8FAD5B-D9CB-469F-A165-70867728950E/orders", "/u/:uuid/orders"],
    ["/blob/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", "/blob/:hash"],
    ["/blob/9f86d081884c7d65", "/blob/:hash"],
    ["/blob/9f86d081884c7d6", "/blob/9f86d081884c7d6"],
    // Not ids: static files, words, short hex, a hex word without a digit, digits inside a segment.
    ["/static/app.v2.js", "/static/app.v2.js"],
    ["/about", "/about"],
    ["/c/cafe", "/c/cafe"],
    ["/c/deadbeefcafebabedeadbeef", "/c/deadbeefcafebabedeadbeef"],
    ["/page2", "/page2"],
    ["/item/12a", "/item/12a"],
    ["/0f8fad5b-d9cb-469f-a165-70867728950", "/0f8fad5b-d9cb-469f-a165-70867728950"],
    ["/", "/"],
    ["", ""],
    ["*", "*"],
    // Before the first "/" is not a segment.
    ["123", "123"],
    ["//42", "//:id"],
  ];
  test.each(cases)("%p -> %p", (path, route) => {
    expect(new PathGrouper().route(path)).toBe(route);
    expect(oracleRoute(path)).toBe(route);
  });

  test("equal the oracle's folds on 20,000 random paths", () => {
    const pieces = ["", "a", "12", "007", "x1", "0f8fad5b-d9cb-469f-a165-70867728950e", "9f86d081884c7d659a2f", "abcdefabcdefabcdef", "ABCDEF0123456789", "0123456789abcde", "f", ".", "-", "%20", "?"];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const grouper = new PathGrouper();
    for (let k = 0; k < 20_000; k++) {
      let path = next() < 0.1 ? "" : "/";
      const n = 1 + Math.floor(next() * 5);
      for (let s = 0; s < n; s++) {
        path += pieces[Math.floor(next() * pieces.length)]! + (next() < 0.3 ? pieces[Math.floor(next() * pieces.length)]! : "");
        if (s < n - 1 || next() < 0.2) path += "/";
      }
      expect(grouper.route(path)).toBe(oracleRoute(path));
    }
  });
});

describe("patterns", () => {
  const cases: Array<[string[], string, string]> = [
    [["/users/:user/posts"], "/users/bob/posts", "/users/:user/posts"],
    [["/users/:user/posts"], "/users/bob/posts/1", "/users/bob/posts/:id"],
    [["/users/:user/posts"], "/users//posts", "/users//posts"],
    [["/img/*.png"], "/img/logo.png", "/img/*.png"],
    [["/img/*.png"], "/img/a/logo.png", "/img/a/logo.png"],
    [["/static/**"], "/static/a/b/c.js", "/static/**"],
    [["/static/**"], "/static", "/static"],
    // Regex characters in a pattern are literal.
    [["/a.b/(x)"], "/a.b/(x)", "/a.b/(x)"],
    [["/a.b/(x)"], "/axb/(x)", "/axb/(x)"],
    // The user's pattern wins over the default folds; the first pattern that matches wins.
    [["/item/:sku"], "/item/123", "/item/:sku"],
    [["/item/**", "/item/:sku"], "/item/123", "/item/**"],
    [["/item/:sku", "/item/**"], "/item/123", "/item/:sku"],
    // none: no default folds; with patterns, only those.
    [["none"], "/item/123", "/item/123"],
    [["none", "/users/:u"], "/users/9", "/users/:u"],
    [["none", "/users/:u"], "/item/9", "/item/9"],
  ];
  test.each(cases)("%p: %p -> %p", (specs, path, route) => {
    expect(new PathGrouper(checkPathGroups(specs)).route(path)).toBe(route);
  });

  const invalid: Array<[string, string]> = [
    ["users/:id", 'a pattern starts with "/"'],
    ["", 'a pattern starts with "/"'],
    ["/users/:", "is not a parameter"],
    ["/users/:1d", "is not a parameter"],
    ["/users/:id-x", "is not a parameter"],
  ];
  test.each(invalid)("%p is refused: %s", (spec, message) => {
    expect(() => checkPathGroups([spec])).toThrow(message);
  });
});

describe("--group-path through the CLI", () => {
  const dir = mkdtempSync(join(tmpdir(), "logmr-groups-"));
  // Ids, UUIDs, a hash and static paths, some answered 404, with response times.
  const lines: string[] = [];
  const paths = ["/item/{n}", "/item/{n}/reviews", "/u/0f8fad5b-d9cb-469f-a165-7086772895{n2}/cart", "/blob/9f86d081884c7d659a2f{n2}", "/static/app.js", "/about", "/{n}"];
  for (let k = 0; k < 3000; k++) {
    const path = paths[k % paths.length]!.replace("{n}", String((k * 7919) % 1000)).replace("{n2}", String(10 + (k % 90)));
    const second = String(k % 60).padStart(2, "0");
    const status = k % 11 === 0 ? 404 : 200;
    lines.push(`10.0.${k % 5}.${k % 13} - - [03/Dec/2026:10:${String(Math.floor(k / 60) % 60).padStart(2, "0")}:${second} +0000] "GET ${path}?q=${k} HTTP/1.1" ${status} ${k} "-" "ua" 0.${String(k % 1000).padStart(3, "0")} -`);
  }
  const text = `${lines.join("\n")}\n`;
  const file = join(dir, "ids.log");
  writeFileSync(file, text);
  const timed = ["--format", "nginx-timed"];
  // The oracle reads Combined: the two appended times are cut off first.
  const combinedText = text.replace(/ 0\.\d{3} -$/gm, "");

  test.each([1, 2, 3])("default folds on %i workers equal the oracle's routes, response times by route too", async (workers) => {
    // From stdin in 8 KiB tasks: many partials, folded each on its own, merged by route.
    const doc = await cliJson(["-", ...timed, "--workers", String(workers), "--top", "1000"], { stdin: text, env: { LOGMR_SEGMENT_BYTES: "8192" } });
    expect(doc.run.tasks).toBeGreaterThan(5);
    const o = oracleCount(binary(new TextEncoder().encode(combinedText)));
    expect(doc.data.lines.valid).toBe(3000);
    const rows = (list: Array<{ key: string; count: number }>) => new Map(list.map((r) => [r.key, r.count]));
    expect(sorted(rows(doc.data.topPaths))).toEqual(sorted(o.paths));
    expect(sorted(rows(doc.data.topNotFoundPaths))).toEqual(sorted(o.notFoundPaths));
    expect(o.paths.size).toBe(7);
    // Every line has a time: each route's timed count is its request count.
    const byPath = new Map((doc.data.latency.byPath as Array<{ path: string; count: number }>).map((r) => [r.path, r.count]));
    expect(sorted(byPath)).toEqual(sorted(o.paths));
  });

  test("none: the paths as logged, as the raw oracle counts them", async () => {
    const doc = await cliJson([file, ...timed, "--workers", "2", "--top", "100000", "--group-path", "none"]);
    const o = oracleCount(binary(new TextEncoder().encode(combinedText)), {}, "raw");
    expect(sorted(new Map((doc.data.topPaths as Array<{ key: string; count: number }>).map((r) => [r.key, r.count])))).toEqual(sorted(o.paths));
    expect(doc.data.pathGrouping).toEqual({ patterns: [], defaultFolds: false });
  });

  test("a pattern given twice with another: both apply, in order, before the folds", async () => {
    const doc = await cliJson([file, ...timed, "--group-path", "/item/:sku/reviews", "--group-path=/u/**"]);
    const keys = (doc.data.topPaths as Array<{ key: string }>).map((r) => r.key);
    expect(keys).toContain("/item/:sku/reviews");
    expect(keys).toContain("/u/**");
    expect(keys).toContain("/item/:id");
    expect(doc.data.pathGrouping).toEqual({ patterns: ["/item/:sku/reviews", "/u/**"], defaultFolds: true });
  });

  test("the report says paths are routes", async () => {
    const r = await cli([file, ...timed, "--quiet"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/paths +by route: ids, UUIDs and hashes folded/);
  });

  test("a bad pattern exits 2 with one line", async () => {
    const r = await cli([file, "--group-path", "item/:id"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain('a pattern starts with "/"');
  });
});
