// Screenshots of the HTML report for the README and docs/: a generated log
// with response times, in Debian's Chromium at a desktop and a
// phone width. Run: bun scripts/screenshots.ts (needs chromium installed).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const root = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "logmr-shots-"));
const html = join(dir, "report.html");
const log = join(dir, "access.log");

// A log with response times, so that the latency cards and tables show too.
const steps = [
  ["generate", "--lines", "500000", "--format", "nginx-timed", "-o", log],
  ["access.log", "--format", "nginx-timed", "--html", html, "--quiet"],
];
for (const args of steps) {
  // In the folder, so that the page names the log as a user would see it.
  const run = Bun.spawnSync([process.execPath, `${root}analyze.ts`, ...args], { cwd: dir, stderr: "inherit" });
  if (run.exitCode !== 0) throw new Error(`analyze ${args[0]} exited ${run.exitCode}`);
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? Bun.which("chromium") ?? "/usr/bin/chromium" });
try {
  for (const [width, height] of [[1280, 900], [390, 844]] as const) {
    const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: 1 });
    await page.goto(`file://${html}`);
    await page.waitForSelector("html[data-ready='1']");
    const file = `${root}docs/report-${width}.png`;
    await page.screenshot({ path: file });
    console.error(`wrote ${file}`);
    await page.close();
  }
} finally {
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
}
