// The HTML report: one self-contained file (style, script and data inline,
// nothing fetched), so it opens from file:// and can be mailed as is.
import { readFileSync } from "node:fs";
import type { BenchResult } from "../cli/bench.ts";
import { REPORT_SCHEMA_VERSION, type ReportData, type RunInfo } from "./report.ts";

const CSS = readFileSync(new URL("./page.css", import.meta.url), "utf8");
const SCRIPT = readFileSync(new URL("./page.js", import.meta.url), "utf8");

/** JSON safe inside a <script> element: no "</script>", no "<!--", no line separators that old parsers choke on. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

function sha256(text: string): string {
  return new Bun.CryptoHasher("sha256").update(text).digest("base64");
}

/**
 * The page for a report. The data block is the `data` of `--json` and does
 * not depend on the run, so the same counts give the same bytes up to the run
 * block, whatever the worker count.
 */
export function renderHtml(data: ReportData, run: RunInfo | null): string {
  return page("Access log report", [["report-data", data], ["report-run", run]]);
}

/** The page for a bench result: its runs table, the scaling curve and the findings. */
export function renderBenchHtml(result: BenchResult, comparisons: string[]): string {
  return page("Benchmark", [["bench-data", { result, comparisons }]]);
}

function page(title: string, blocks: Array<[id: string, value: unknown]>): string {
  // Only the inline style and script, by hash, may run; no request may leave the page.
  const csp = `default-src 'none'; style-src 'sha256-${sha256(CSS)}'; script-src 'sha256-${sha256(SCRIPT)}'; img-src data:; base-uri 'none'; form-action 'none'`;
  return [
    "<!doctype html>",
    `<html lang="en">`,
    "<head>",
    `<meta charset="utf-8">`,
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<meta name="generator" content="logmr (report schema ${REPORT_SCHEMA_VERSION})">`,
    `<title>${title}</title>`,
    `<style>${CSS}</style>`,
    "</head>",
    "<body>",
    "<main></main>",
    ...blocks.map(([id, value]) => `<script type="application/json" id="${id}">${scriptJson(value)}</script>`),
    `<script>${SCRIPT}</script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
