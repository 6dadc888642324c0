// The HTML report, opened in a real Chromium (Debian's, driven by
// playwright-core): what the page shows must be the --json data, it must
// fetch nothing and run nothing from the log.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { scriptJson } from "../src/report/html.ts";
import { cli, fixture, ROOT } from "./helpers.ts";

const CHROMIUM = process.env.CHROMIUM ?? Bun.which("chromium") ?? "/usr/bin/chromium";
const dir = mkdtempSync(join(tmpdir(), "logmr-html-"));
let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM });
});
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

// Independent of the page's formatting code: digits grouped by hand.
const grouped = (n: number) => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
const percent = (x: number) => `${(x * 100).toFixed(2)}%`;
const escapedControls = (s: string) => [...s].map((c) => {
  const code = c.codePointAt(0)!;
  return code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\x${code.toString(16).toUpperCase().padStart(2, "0")}` : c;
}).join("");

interface Opened {
  page: Page;
  /** Console errors and warnings, page errors, dialogs, and every request but the file itself. */
  problems: string[];
}

async function open(file: string, viewport = { width: 1280, height: 900 }): Promise<Opened> {
  const page = await browser.newPage({ viewport });
  const problems: string[] = [];
  const url = `file://${file}`;
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("dialog", (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on("request", (r) => {
    if (r.url() !== url) problems.push(`request: ${r.url()}`);
  });
  page.on("requestfailed", (r) => problems.push(`failed request: ${r.url()}`));
  await page.goto(url);
  await page.waitForSelector("html[data-ready='1']", { timeout: 10_000 });
  return { page, problems };
}

/** Writes the page and the --json of one run of the CLI; returns the page's path and the data. */
async function report(name: string, args: string[]) {
  const html = join(dir, `${name}.html`);
  const r = await cli([...args, "--html", html, "--json"]);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return { html, data: JSON.parse(r.stdout).data };
}

/** The data block of a page, parsed. */
function embeddedData(html: string) {
  const open = `<script type="application/json" id="report-data">`;
  const at = html.indexOf(open);
  expect(at).toBeGreaterThan(0);
  return JSON.parse(html.slice(at + open.length, html.indexOf("</script>", at)));
}

const cellTexts = (page: Page, table: string, column: number) =>
  page.$$eval(`[data-table='${table}'] tbody tr`, (rows, j) => rows.map((r) => r.children[j]?.textContent ?? ""), column);

// Each table of the page, the --json list it shows and the field of its first column.
const TABLES = [
  ["clients", "topClients", "client"],
  ["suspicious", "suspicious", "client"],
  ["paths", "topPaths", "key"],
  ["not-found", "topNotFoundPaths", "key"],
  ["methods", "methods", "key"],
  ["referrers", "topReferrers", "key"],
  ["agents", "topAgents", "key"],
  ["hosts", "topHosts", "host"],
  ["latency-paths", "latency.byPath", "path"],
  ["slowest-paths", "latency.slowestPaths", "path"],
  ["malformed-reasons", "malformedReasons", "reason"],
] as const;
const listAt = (data: Record<string, unknown>, path: string) =>
  path.split(".").reduce<unknown>((v, k) => (v as Record<string, unknown> | null)?.[k], data) as Array<Record<string, unknown>> | null | undefined;

describe.each([
  ["a generated run on 2 workers", "generated", ["--lines", "30000", "--workers", "2"]],
  ["the nginx fixture", "nginx", [fixture("nginx-access.log")]],
  ["nginx with response times", "timed", [fixture("nginx-timed.log"), "--format", "nginx-timed"]],
  ["Apache vhost_combined with %D", "vhost", [fixture("apache-vhost-timed.log")]],
] as const)("the page of %s", (_what, name, args) => {
  let opened: Opened;
  let data: Record<string, any>;
  let page: string;
  beforeAll(async () => {
    const r = await report(name, [...args]);
    data = r.data;
    page = readFileSync(r.html, "utf8");
    opened = await open(r.html);
  });
  afterAll(async () => {
    await opened?.page.close();
  });

  test("embeds the --json data once, and loads with no console error and no request but the file", () => {
    expect(embeddedData(page)).toEqual(data);
    expect(page.split(`id="report-data"`)).toHaveLength(2);
    expect(opened.problems).toEqual([]);
  });

  test("the cards are the totals of the data", async () => {
    const card = (key: string) => opened.page.textContent(`[data-card='${key}'] .value`);
    expect(await card("requests")).toBe(grouped(data.requests));
    expect(await card("lines")).toBe(grouped(data.lines.read));
    expect(await card("malformed")).toBe(grouped(data.lines.malformed));
    expect(await card("clients")).toBe(grouped(data.uniqueClients));
    expect(await card("client4xx")).toBe(percent(data.errorRates.client4xx));
    expect(await card("server5xx")).toBe(percent(data.errorRates.server5xx));
    expect(await opened.page.$(`[data-card='p95']`) !== null).toBe(data.latency !== null);
  });

  test("the status bars are the status counts", async () => {
    const bars = await opened.page.$$eval("rect.bar", (rs) => rs.map((r) => [Number(r.getAttribute("data-code")), Number(r.getAttribute("data-count"))]));
    expect(bars).toEqual(data.status.map((s: { code: number; count: number }) => [s.code, s.count]));
    expect(bars.length).toBeGreaterThan(1);
  });

  test("the time chart has one point per bucket, at its count", async () => {
    const points = await opened.page.$$eval("circle.point", (ps) => ps.map((p) => [p.getAttribute("data-start"), Number(p.getAttribute("data-count"))]));
    expect(points).toEqual(data.timeline.buckets.map((b: { start: string; count: number }) => [b.start, b.count]));
    expect(points.length).toBeGreaterThan(0);
  });

  test("hovering a point shows its bucket's requests, 4xx and 5xx", async () => {
    const last = data.timeline.buckets.at(-1);
    await opened.page.hover("circle.point >> nth=-1", { force: true });
    const tip = opened.page.locator(".tip");
    expect(await tip.isVisible()).toBe(true);
    expect(await tip.textContent()).toEndWith(`${grouped(last.count)} requests, ${grouped(last.errors4xx)} 4xx, ${grouped(last.errors5xx)} 5xx`);
  });

  test("every table holds its list, in its order", async () => {
    let shown = 0;
    for (const [table, path, key] of TABLES) {
      const list = listAt(data, path) ?? [];
      const keys = await cellTexts(opened.page, table, 0);
      expect({ table, keys }).toEqual({ table, keys: list.map((r) => escapedControls(String(r[key]))) });
      shown += keys.length;
    }
    expect(shown).toBeGreaterThan(10);
    // The second column of the count tables is the count, grouped.
    const clients = await cellTexts(opened.page, "clients", 1);
    expect(clients).toEqual(data.topClients.map((c: { requests: number }) => grouped(c.requests)));
  });

  test("at a phone's width the page needs no sideways scroll", async () => {
    const phone = await open(opened.page.url().slice("file://".length), { width: 390, height: 844 });
    try {
      expect(phone.problems).toEqual([]);
      const width = await phone.page.$eval("html", (e) => e.scrollWidth);
      expect(width).toBeLessThanOrEqual(390);
    } finally {
      await phone.page.close();
    }
  });
});

describe("sorting and filtering", () => {
  let opened: Opened;
  let data: Record<string, any>;
  beforeAll(async () => {
    const r = await report("sort", [fixture("nginx-access.log"), "--top", "40"]);
    data = r.data;
    opened = await open(r.html);
  });
  afterAll(async () => {
    await opened?.page.close();
  });
  const numbers = (texts: string[]) => texts.map((t) => Number(t.replaceAll(",", "")));
  const header = (table: string, title: string) => opened.page.locator(`[data-table='${table}'] th button`, { hasText: new RegExp(`^${title}$`) });

  test("a click on a column sorts by it, descending then ascending", async () => {
    await header("clients", "5xx").click();
    const down = numbers(await cellTexts(opened.page, "clients", 4));
    expect(down).toEqual([...down].sort((a, b) => b - a));
    expect(down).toEqual(data.topClients.map((c: { errors5xx: number }) => c.errors5xx).sort((a: number, b: number) => b - a));
    await header("clients", "5xx").click();
    const up = numbers(await cellTexts(opened.page, "clients", 4));
    expect(up).toEqual([...down].reverse().length === up.length ? [...up].sort((a, b) => a - b) : []);
    expect(up[0]).toBe(Math.min(...down));
    expect(await opened.page.getAttribute(`[data-table='clients'] th:nth-child(5)`, "aria-sort")).toBe("ascending");
  });

  test("a text column sorts as text", async () => {
    await header("paths", "Path").click();
    const paths = await cellTexts(opened.page, "paths", 0);
    const expected = data.topPaths.map((p: { key: string }) => p.key).sort((a: string, b: string) => (a < b ? 1 : a > b ? -1 : 0));
    expect(paths).toEqual(expected);
  });

  test("typing in the filter keeps the rows that hold the text", async () => {
    const box = opened.page.locator("[data-table='paths'] input[type=search]");
    await box.fill("PHP");
    const kept = await cellTexts(opened.page, "paths", 0);
    const expected = data.topPaths.filter((p: { key: string }) => p.key.toLowerCase().includes("php")).map((p: { key: string }) => p.key);
    expect(new Set(kept)).toEqual(new Set(expected));
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(data.topPaths.length);
    expect(await opened.page.textContent("[data-table='paths'] .shown")).toBe(`${kept.length} of ${data.topPaths.length}`);
    await box.fill("");
    expect((await cellTexts(opened.page, "paths", 0)).length).toBe(data.topPaths.length);
  });
});

describe("strings from the log", () => {
  // Valid lines whose path, agent and referrer carry markup and control bytes, and one malformed line of markup.
  const hostile = [
    `10.0.0.1 - - [27/Nov/2026:10:00:00 +0000] "GET /<script>alert(1)</script> HTTP/1.1" 404 12 "\\"><img src=x onerror=alert(2)>" "<script>alert(3)</script>\x01ctl\x7f"`,
    `10.0.0.2 - - [27/Nov/2026:10:00:01 +0000] "GET /a\x02b?x=<b>1</b> HTTP/1.1" 200 5 "-" "<svg onload=alert(5)>"`,
    ...Array.from({ length: 20 }, (_, k) => `10.0.0.${3 + k} - - [27/Nov/2026:10:00:${String(2 + k).padStart(2, "0")} +0000] "GET /ok HTTP/1.1" 200 5 "-" "curl/8"`),
    `<script>alert(4)</script>`,
  ];
  let opened: Opened;
  let data: Record<string, any>;
  beforeAll(async () => {
    const log = join(dir, "hostile.log");
    writeFileSync(log, `${hostile.join("\n")}\n`);
    const r = await report("hostile", [log]);
    data = r.data;
    opened = await open(r.html);
  });
  afterAll(async () => {
    await opened?.page.close();
  });

  test("the fixture reaches the page's lists", () => {
    expect(data.topPaths.map((p: { key: string }) => p.key)).toContain("/<script>alert(1)</script>");
    expect(data.topAgents.map((p: { key: string }) => p.key)).toContain("<script>alert(3)</script>\x01ctl\x7f");
    expect(data.malformedSamples[0].text).toBe("<script>alert(4)</script>");
  });

  test("no script runs and no element is made from them", async () => {
    expect(opened.problems).toEqual([]);
    expect(await opened.page.$$eval("img, svg [onload], [onerror], b", (es) => es.length)).toBe(0);
    expect(await opened.page.$$eval("script", (es) => es.map((e) => e.getAttribute("type") ?? "code"))).toEqual(["application/json", "application/json", "code"]);
  });

  test("they are shown as text, control bytes as \\xHH", async () => {
    expect(await cellTexts(opened.page, "paths", 0)).toContain("/<script>alert(1)</script>");
    expect(await cellTexts(opened.page, "agents", 0)).toContain("<script>alert(3)</script>\\x01ctl\\x7F");
    expect(await cellTexts(opened.page, "referrers", 0)).toContain(`\\"><img src=x onerror=alert(2)>`);
    expect(await cellTexts(opened.page, "malformed", 3)).toEqual(["<script>alert(4)</script>"]);
  });
});

describe("the page's bytes", () => {
  const dataPart = (html: string) => {
    const at = html.indexOf(`<script type="application/json" id="report-run">`);
    const end = html.indexOf("</script>", at);
    expect(at).toBeGreaterThan(0);
    return { before: html.slice(0, at), after: html.slice(end) };
  };

  test("are the same for 1 and 3 workers apart from the run block", async () => {
    const pages = [];
    for (const workers of ["1", "3"]) {
      const html = join(dir, `w${workers}.html`);
      const r = await cli([fixture("nginx-access.log"), "--workers", workers, "--html", html, "--quiet"]);
      expect(r.code).toBe(0);
      pages.push(readFileSync(html, "utf8"));
    }
    expect(pages[0]).not.toBe(pages[1]);
    expect(dataPart(pages[0]!)).toEqual(dataPart(pages[1]!));
  });

  test("the default run's page stays under 1 MB", async () => {
    const html = join(dir, "default.html");
    const r = await cli(["--lines", "200000", "--html", html, "--quiet"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    const size = readFileSync(html).length;
    expect(size).toBeGreaterThan(10_000);
    expect(size).toBeLessThan(1_000_000);
  });
});

describe("the page of a bench result", () => {
  test("shows every run and one scaling point per engine row, fetching nothing", async () => {
    const html = join(dir, "bench.html");
    const json = join(dir, "bench.json");
    const r = await cli(["bench", "--lines", "3000", "--workers", "1,2", "--runs", "2", "--warmup", "0", "--reference-lines", "500", "--no-yardsticks", "--html", html, "--export-json", json]);
    expect(r.code).toBe(0);
    const result = JSON.parse(readFileSync(json, "utf8"));
    const opened = await open(html);
    try {
      expect(opened.problems).toEqual([]);
      expect(await cellTexts(opened.page, "runs", 0)).toEqual(result.rows.map((row: { name: string }) => row.name));
      const points = await opened.page.$$eval("circle.point", (ps) => ps.map((p) => [Number(p.getAttribute("data-workers")), Number(p.getAttribute("data-speedup"))]));
      const engine = result.rows.filter((row: { kind: string }) => row.kind === "engine");
      expect(points).toEqual(engine.map((row: { workers: number; speedup: number }) => [row.workers, row.speedup]));
      expect(points).toHaveLength(2);
      expect(await opened.page.textContent("#findings")).toContain("workers=2 ran");
    } finally {
      await opened.page.close();
    }
  });
});

describe("the page of a run that spilled (--memory)", () => {
  test("says so in its header and lists its reducers with their peak memory", async () => {
    const log = join(dir, "distinct.log");
    const lines: string[] = [];
    for (let i = 0; i < 30_000; i++) lines.push(`10.2.${i >> 8}.${i & 255} - - [27/Nov/2026:10:00:00 +0000] "GET /d/${i}x HTTP/1.1" 200 10 "-" "a"`);
    writeFileSync(log, `${lines.join("\n")}\n`);
    const html = join(dir, "spilled.html");
    const r = await cli([log, "--memory", "400M", "--partitions", "3", "--html", html, "--json"], { env: { LOGMR_SPILL_KEYS: "4000" } });
    expect(r.code).toBe(0);
    const run = JSON.parse(r.stdout).run as { memory: { spilled: boolean; runs: number; reducers: Array<{ pid: number }> } };
    expect(run.memory.spilled).toBe(true);
    const opened = await open(html);
    try {
      expect(opened.problems).toEqual([]);
      expect(await opened.page.textContent("[data-meta='memory']")).toContain(`${run.memory.runs} sorted runs, reduced in 3 partitions`);
      expect(await cellTexts(opened.page, "reducers", 0)).toEqual(run.memory.reducers.map((x) => String(x.pid)));
    } finally {
      await opened.page.close();
    }
  }, 30_000);
});

describe("scriptJson", () => {
  test.each([
    ["a closing tag", "</script><script>alert(1)</script>"],
    ["a comment opener", "<!-- x"],
    ["an ampersand", "&amp; &lt;"],
    ["line separators", "a\u2028b\u2029c"],
    ["control bytes", "\x00\x01\x1f"],
  ])("%s is kept out of the markup and read back as it was", (_what, text) => {
    const json = scriptJson({ text, list: [text] });
    expect(json).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(json)).toEqual({ text, list: [text] });
  });
});

describe("writing the report", () => {
  test.each([
    ["-o with an unknown extension", ["-o", "report.pdf"], /-o report\.pdf: the name must end with/],
    ["-o FILE beside --json", ["-o", join(dir, "x.json"), "--json"], /leave out --json/],
    ["--html in a missing folder", ["--html", "/nonexistent/dir/r.html"], /cannot write \/nonexistent\/dir\/r\.html: there is no folder/],
    ["--csv in a missing folder", ["--csv", "/nonexistent/dir/r.csv"], /cannot write \/nonexistent\/dir\/r\.csv: there is no folder/],
  ])("%s is refused in one line", async (_what, args, message) => {
    const r = await cli([fixture("nginx-access.log"), ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  // The text report up to its timings, which differ from run to run.
  const untimed = (s: string) => {
    expect(s).toContain("\nTiming\n");
    return s.slice(0, s.indexOf("\nTiming\n"));
  };

  test("--html - and --csv - put the page or the tables on stdout", async () => {
    const page = await cli([fixture("nginx-access.log"), "--html", "-"]);
    expect(page.code).toBe(0);
    expect(embeddedData(page.stdout).requests).toBe(1816);
    const csv = await cli([fixture("nginx-access.log"), "--csv", "-"]);
    expect(csv.code).toBe(0);
    expect(csv.stdout).toStartWith("section,");
    const both = await cli([fixture("nginx-access.log"), "--csv", "-", "--html", "-"]);
    expect(both.code).toBe(2);
  });

  test("a missing folder is refused before the work starts", async () => {
    const started = performance.now();
    const r = await cli(["bench", "--lines", "5000000", "--html", "/nonexistent/b.html"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("cannot write /nonexistent/b.html: there is no folder /nonexistent");
    // a bench of 5,000,000 lines would take far longer than this
    expect(performance.now() - started).toBeLessThan(5000);
  });

  test("-o picks the form by the name and equals what stdout would carry", async () => {
    const json = await cli([fixture("nginx-access.log"), "--json"]);
    const text = await cli([fixture("nginx-access.log")]);
    for (const [name, check] of [
      ["r.json", (s: string) => expect(JSON.parse(s).data).toEqual(JSON.parse(json.stdout).data)],
      ["r.txt", (s: string) => expect(untimed(s)).toBe(untimed(text.stdout))],
      ["r.html", (s: string) => expect(s).toStartWith("<!doctype html>")],
      ["r.csv", (s: string) => expect(s).toStartWith("section,")],
    ] as const) {
      const r = await cli([fixture("nginx-access.log"), "-o", join(dir, name)]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("");
      check(readFileSync(join(dir, name), "utf8"));
    }
  });

  test("reduce writes the same data block as a local run", async () => {
    const plan = await cli(["plan", fixture("nginx-access.log"), "--workers", "2"]);
    expect(plan.code).toBe(0);
    const worker = Bun.spawn([process.execPath, `${ROOT}src/map/worker.ts`], { stdin: new Blob([plan.stdout]), stdout: "pipe", stderr: "pipe" });
    const [partials, , code] = await Promise.all([new Response(worker.stdout).text(), new Response(worker.stderr).text(), worker.exited]);
    expect(code).toBe(0);
    const html = join(dir, "reduced.html");
    const r = await cli(["reduce", "--html", html, "--quiet"], { stdin: partials });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    const local = await report("local", [fixture("nginx-access.log")]);
    const embedded = embeddedData(readFileSync(html, "utf8"));
    // reduce knows the files from the plan only, not their sizes
    expect({ ...embedded, input: null }).toEqual({ ...local.data, input: null });
    expect(embedded.requests).toBe(1816);
  });
});
