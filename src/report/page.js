// The HTML report's script, inlined into the page: it renders the embedded
// --json document. Every string from a log goes in through textContent (never
// innerHTML), so a path like <script> shows as text.
(() => {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const read = (id) => JSON.parse(document.getElementById(id).textContent);
  const root = document.querySelector("main");

  const int = (n) => Math.round(n).toLocaleString("en-US");
  const pct = (x) => `${(x * 100).toFixed(2)}%`;
  const secs = (s) => (s >= 1 ? `${s.toFixed(2)} s` : `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)} ms`);
  const bytes = (n) => {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let k = 0;
    while (n >= 1024 && k < units.length - 1) (n /= 1024), k++;
    return k === 0 ? `${n} B` : `${n.toFixed(1)} ${units[k]}`;
  };
  // Control characters of a log line shown as \xHH, as in the terminal report.
  const shown = (s) => String(s).replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs ?? {})) e.setAttribute(k, v);
    for (const c of children) if (c !== null && c !== undefined) e.append(typeof c === "string" ? document.createTextNode(c) : c);
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  }
  const section = (id, title, ...children) => root.append(el("section", { id }, el("h2", null, title), ...children));

  // Hover tips for chart marks: the text is in the mark's data-tip.
  const tip = el("div", { class: "tip", role: "tooltip" });
  document.body.append(tip);
  document.addEventListener("mouseover", (ev) => {
    const t = ev.target.closest?.("[data-tip]");
    if (!t) return void (tip.style.display = "none");
    tip.textContent = t.getAttribute("data-tip");
    tip.style.display = "block";
  });
  document.addEventListener("mousemove", (ev) => {
    tip.style.left = `${Math.min(ev.clientX + 12, window.innerWidth - tip.offsetWidth - 4)}px`;
    tip.style.top = `${ev.clientY + 12}px`;
  });

  // Charts are drawn at the width their box has, so that their text keeps its
  // size on a phone; they are drawn again when the window changes width.
  const charts = [];
  function chartBox(draw) {
    const box = el("div", { class: "chart" });
    charts.push(() => box.replaceChildren(draw(Math.max(300, box.clientWidth || 1000))));
    return box;
  }
  let lastWidth = 0;
  const drawCharts = () => {
    if (window.innerWidth === lastWidth) return;
    lastWidth = window.innerWidth;
    for (const draw of charts) draw();
  };
  window.addEventListener("resize", drawCharts);

  // Tables: sortable by any column, filtered by text.
  function table(id, title, columns, rows, note) {
    if (!rows || rows.length === 0) return;
    const head = el("tr");
    const body = el("tbody");
    const count = el("span", { class: "shown" });
    const filter = el("input", { type: "search", placeholder: "Filter", "aria-label": `Filter ${title}` });
    const cells = rows.map((r) => columns.map((c) => c.value(r)));
    let order = rows.map((_, k) => k);
    const draw = () => {
      const needle = filter.value.trim().toLowerCase();
      body.replaceChildren();
      let n = 0;
      for (const k of order) {
        const texts = columns.map((c, j) => (c.format ? c.format(cells[k][j]) : shown(cells[k][j])));
        if (needle && !texts.some((t) => t.toLowerCase().includes(needle))) continue;
        body.append(el("tr", null, ...texts.map((t, j) => el("td", columns[j].num ? { class: "num" } : null, t))));
        n++;
      }
      count.textContent = `${n} of ${rows.length}`;
    };
    columns.forEach((c, j) => {
      const button = el("button", { type: "button" }, c.title);
      const th = el("th", { scope: "col", "aria-sort": "none", ...(c.num ? { class: "num" } : {}) }, button);
      button.addEventListener("click", () => {
        const dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
        for (const other of head.children) other.setAttribute("aria-sort", "none");
        th.setAttribute("aria-sort", dir);
        const sign = dir === "ascending" ? 1 : -1;
        order = rows.map((_, k) => k).sort((a, b) => {
          const u = cells[a][j], v = cells[b][j];
          const cmp = typeof u === "number" && typeof v === "number" ? u - v : String(u) < String(v) ? -1 : String(u) > String(v) ? 1 : 0;
          return sign * cmp || a - b;
        });
        draw();
      });
      head.append(th);
    });
    filter.addEventListener("input", draw);
    draw();
    section(id, title, ...(note ? [el("p", { class: "note" }, note)] : []),
      el("div", { class: "table-box", "data-table": id },
        el("div", { class: "table-tools" }, filter, count),
        el("div", { class: "scroll" }, el("table", null, el("thead", null, head), body))));
  }
  const col = (title, value, format) => ({ title, value, format, num: format !== undefined });
  const ranked = (keyTitle) => [col(keyTitle, (r) => r.key), col("Requests", (r) => r.count, int), col("Share", (r) => r.share, pct)];
  const latencyCols = (first) => [first, col("Count", (r) => r.count, int), col("Mean", (r) => r.mean, secs), col("p50", (r) => r.p50, secs), col("p95", (r) => r.p95, secs), col("p99", (r) => r.p99, secs), col("Max", (r) => r.max, secs)];

  // A bench result (bench --html): its runs and the scaling curve.
  function benchPage({ result, comparisons }) {
    const env = result.environment;
    const meta = [
      ["input", result.input],
      result.baseline ? ["baseline", result.baseline] : null,
      ["machine", `${env.cpuModel}, ${env.cores} cores, ${env.memoryGiB} GiB, ${env.os}`],
      ["engine", `logmr ${env.engineVersion}${env.commit ? ` (${env.commit})` : ""}, Bun ${env.bunVersion}`],
      ["ran", env.date],
    ].filter(Boolean);
    root.append(el("header", null, el("h1", null, "Benchmark"),
      el("p", { class: "meta" }, ...meta.map(([k, v]) => el("span", { "data-meta": k }, `${k}: `, shown(v))))));
    const engine = result.rows.filter((r) => r.kind === "engine");
    const fastest = engine.reduce((a, r) => (a && a.seconds.median <= r.seconds.median ? a : r), null);
    if (fastest) {
      const best = engine.reduce((a, r) => Math.max(a, r.speedup ?? 0), 0);
      const cards = [
        ["Fastest", `${fastest.name}`, "fastest"],
        ["Its median", secs(fastest.seconds.median), "median"],
        ["Lines per second", int(fastest.linesPerSecond), "lines-per-second"],
        ["Best speedup", best > 0 ? `${best.toFixed(2)}x` : "-", "speedup"],
      ];
      root.append(el("div", { class: "cards" }, ...cards.map(([label, value, key]) =>
        el("div", { class: "card", "data-card": key }, el("div", { class: "label" }, label), el("div", { class: "value" }, value)))));
    }
    const points = engine.filter((r) => r.workers !== null && r.speedup !== null).sort((a, b) => a.workers - b.workers);
    if (points.length > 1) {
      const drawScaling = (W) => {
        W = Math.min(W, 640);
        const H = 300, L = 44, B = 34, T = 12, R = 16;
        const maxX = Math.max(...points.map((p) => p.workers));
        const maxY = Math.max(maxX, ...points.map((p) => p.speedup));
        const x = (v) => L + ((v - 1) / Math.max(1, maxX - 1)) * (W - L - R);
        const y = (v) => T + (H - T - B) * (1 - v / maxY);
        const chart = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Speedup against workers" });
        for (let t = 0; t <= Math.floor(maxY); t++) {
          chart.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: y(t), y2: y(t) }));
          const label = svg("text", { x: L - 6, y: y(t) + 4, "text-anchor": "end" });
          label.textContent = `${t}x`;
          chart.append(label);
        }
        for (const p of points) {
          const label = svg("text", { x: x(p.workers), y: H - 16, "text-anchor": "middle" });
          label.textContent = String(p.workers);
          chart.append(label);
        }
        const axis = svg("text", { x: (L + W - R) / 2, y: H - 2, "text-anchor": "middle" });
        axis.textContent = "workers";
        chart.append(axis, svg("path", { class: "ideal", d: `M${x(1)},${y(1)}L${x(maxX)},${y(maxX)}` }));
        chart.append(svg("path", { class: "series", d: points.map((p, k) => `${k ? "L" : "M"}${x(p.workers).toFixed(1)},${y(p.speedup).toFixed(1)}`).join("") }));
        for (const p of points) {
          chart.append(svg("circle", { class: "point", cx: x(p.workers), cy: y(p.speedup), r: 4, "data-workers": p.workers, "data-speedup": p.speedup,
            "data-tip": `${p.workers} worker${p.workers === 1 ? "" : "s"}: ${p.speedup.toFixed(2)}x, ${secs(p.seconds.median)} median` }));
        }
        return chart;
      };
      section("scaling", "Scaling", el("p", { class: "note" }, "Speedup of the median against 1 worker; the dashed line is the ideal."), chartBox(drawScaling));
    }
    table("runs", "Runs", [
      col("Command", (r) => r.name), col("Kind", (r) => r.kind), col("Workers", (r) => r.workers ?? -1, (v) => (v < 0 ? "-" : String(v))),
      col("Median", (r) => r.seconds.median, secs), col("± sd", (r) => r.seconds.stddev, secs), col("Min", (r) => r.seconds.min, secs), col("Max", (r) => r.seconds.max, secs),
      col("Runs", (r) => r.seconds.runs, int), col("Lines/s", (r) => r.linesPerSecond, int), col("MB/s", (r) => r.mbPerSecond ?? -1, (v) => (v < 0 ? "-" : v.toFixed(1))),
      col("Speedup", (r) => r.speedup ?? -1, (v) => (v < 0 ? "-" : `${v.toFixed(2)}x`)), col("Peak RSS MB", (r) => r.workerMaxRssMb ?? -1, (v) => (v < 0 ? "-" : v.toFixed(1))),
    ], result.rows);
    const notes = [...comparisons, ...result.rows.filter((r) => r.note).map((r) => `${r.name}: ${r.note}`)];
    if (notes.length > 0) section("findings", "Findings", el("ul", { class: "findings" }, ...notes.map((n) => el("li", null, shown(n)))));
  }

  // An access-log report (--html): the --json data, and the run apart.
  function reportPage(data, run) {
    // Header
    const input = data.input.kind === "generated"
      ? `${int(data.input.lines)} generated lines (seed ${data.input.seed})`
      : data.input.files.map((f) => f.path).join(", ");
    const meta = [
      ["input", input],
      ["window", data.firstTime ? `${data.firstTime} to ${data.lastTime}` : "no requests"],
      data.window.since || data.window.until ? ["asked", `${data.window.since ?? "start"} to ${data.window.until ?? "end"}`] : null,
      data.where ? ["where", data.where] : null,
      run ? ["engine", `logmr ${run.engineVersion}, Bun ${run.bunVersion}`] : null,
      run?.hostname ? ["host", run.hostname] : null,
      run?.startedAt ? ["ran", run.startedAt] : null,
      run?.state ? ["state", run.state.bypassed ? `${run.state.file}: not used` : `${run.state.file}: ${int(run.state.bytesMapped)} bytes read now, ${int(run.state.bytesFromState)} counted before`] : null,
      run ? ["took", `${int(run.wallMs)} ms on ${run.workers} worker${run.workers === 1 ? "" : "s"}`] : null,
      run?.memory ? ["memory", run.memory.spilled
        ? `budget ${int(run.memory.budgetMb)} MB, ${(run.memory.bytes / 2 ** 20).toFixed(1)} MB spilled in ${int(run.memory.runs)} sorted runs, reduced in ${int(run.memory.partitions)} partitions`
        : `budget ${int(run.memory.budgetMb)} MB, nothing spilled`] : null,
    ].filter(Boolean);
    root.append(el("header", null, el("h1", null, "Access log report"),
      el("p", { class: "meta" }, ...meta.map(([k, v]) => el("span", { "data-meta": k }, `${k}: `, shown(v))))));

    // Totals
    const cards = [
      ["Requests", int(data.requests), "requests"],
      ["Lines read", int(data.lines.read), "lines"],
      ["Malformed", int(data.lines.malformed), "malformed"],
      ["Unique clients", int(data.uniqueClients), "clients"],
      ["Bytes served", bytes(data.bytes), "bytes"],
      ["4xx rate", pct(data.errorRates.client4xx), "client4xx"],
      ["5xx rate", pct(data.errorRates.server5xx), "server5xx"],
    ];
    if (data.latency) cards.push(["p95 response", secs(data.latency.all.p95), "p95"]);
    root.append(el("div", { class: "cards" }, ...cards.map(([label, value, key]) =>
      el("div", { class: "card", "data-card": key }, el("div", { class: "label" }, label), el("div", { class: "value" }, value)))));

    // Requests and errors over time
    const buckets = data.timeline.buckets;
    const when = (iso) => (data.timeline.bucketMinutes === null ? iso.slice(0, 7) : data.timeline.bucketMinutes >= 1440 ? iso.slice(0, 10) : iso.slice(0, 16).replace("T", " "));
    const drawTimeline = (W) => {
      const H = W < 600 ? 200 : 240, L = 56, B = 28, T = 10;
      const max = Math.max(1, ...buckets.map((b) => b.count));
      const x = (k) => L + (buckets.length === 1 ? (W - L) / 2 : (k * (W - L - 8)) / (buckets.length - 1));
      const y = (v) => T + (H - T - B) * (1 - v / max);
      const chart = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Requests per ${data.timeline.unit}` });
      for (const f of [0, 0.5, 1]) {
        chart.append(svg("line", { class: "axis", x1: L, x2: W, y1: y(max * f), y2: y(max * f) }));
        const label = svg("text", { x: L - 6, y: y(max * f) + 4, "text-anchor": "end" });
        label.textContent = int(max * f);
        chart.append(label);
      }
      const line = (key, cls) => {
        const d = buckets.map((b, k) => `${k === 0 ? "M" : "L"}${x(k).toFixed(1)},${y(b[key]).toFixed(1)}`).join("");
        chart.append(svg("path", { class: cls, d }));
      };
      line("count", "series");
      line("errors4xx", "series s4");
      line("errors5xx", "series s5");
      const ticks = W < 600 ? [0, buckets.length - 1] : [0, Math.floor((buckets.length - 1) / 2), buckets.length - 1];
      for (const k of [...new Set(ticks)]) {
        const label = svg("text", { x: x(k), y: H - 8, "text-anchor": k === 0 ? "start" : k === buckets.length - 1 ? "end" : "middle" });
        label.textContent = when(buckets[k].start);
        chart.append(label);
      }
      const r = (W - L) / buckets.length < 6 ? 1.5 : 3;
      buckets.forEach((b, k) => {
        chart.append(svg("circle", {
          class: "point", cx: x(k), cy: y(b.count), r,
          "data-start": b.start, "data-count": b.count,
          "data-tip": `${when(b.start)}: ${int(b.count)} requests, ${int(b.errors4xx)} 4xx, ${int(b.errors5xx)} 5xx`,
        }));
      });
      return chart;
    };
    if (buckets.length > 0) {
      section("timeline", `Requests per ${data.timeline.unit}`,
        el("p", { class: "note" }, el("span", { class: "key k0" }, "requests"), " ", el("span", { class: "key k4" }, "4xx"), " ", el("span", { class: "key k5" }, "5xx"), ` (UTC; ${buckets.length} buckets)`),
        chartBox(drawTimeline));
    }

    // Status codes
    const drawStatus = (W) => {
      const row = 22, L = 44, room = W < 600 ? 130 : 170;
      const max = Math.max(...data.status.map((s) => s.count));
      const chart = svg("svg", { width: W, height: data.status.length * row + 4, viewBox: `0 0 ${W} ${data.status.length * row + 4}`, role: "img", "aria-label": "Status codes" });
      data.status.forEach((s, k) => {
        const label = svg("text", { x: L - 8, y: k * row + 15, "text-anchor": "end" });
        label.textContent = String(s.code);
        const width = Math.max(1, ((W - L - room) * s.count) / max);
        const cls = s.code >= 200 && s.code < 600 ? `c${Math.floor(s.code / 100)}` : "c0";
        const mark = svg("rect", { class: `bar ${cls}`, x: L, y: k * row + 3, width, height: row - 6, "data-code": s.code, "data-count": s.count, "data-tip": `${s.code}: ${int(s.count)} (${pct(s.share)})` });
        const value = svg("text", { x: L + width + 6, y: k * row + 15 });
        value.textContent = `${int(s.count)} (${pct(s.share)})`;
        chart.append(label, mark, value);
      });
      return chart;
    };
    if (data.status.length > 0) {
      section("status", "Status codes", chartBox(drawStatus),
        el("p", { class: "note" }, data.classes.map((c) => `${c.class} ${int(c.count)} (${pct(c.share)})`).join(" · ")));
    }

    table("clients", "Top clients", [
      col("Client", (r) => r.client), col("Requests", (r) => r.requests, int), col("Share", (r) => r.share, pct),
      col("4xx", (r) => r.errors4xx, int), col("5xx", (r) => r.errors5xx, int), col("404", (r) => r.notFound404, int), col("Bytes", (r) => r.bytes, bytes),
    ], data.topClients);
    table("suspicious", "Suspicious clients", [
      col("Client", (r) => r.client), col("Requests", (r) => r.requests, int), col("Error ratio", (r) => r.errorRatio, pct),
      col("Error z", (r) => r.errorZ, (z) => z.toFixed(1)), col("Volume z", (r) => r.volumeZ, (z) => z.toFixed(1)), col("Why", (r) => r.reasons.join("; ")),
    ], data.suspicious, "Flagged by volume or error ratio far above the other clients' (z-scores over all clients).");
    table("paths", "Top paths", ranked("Path"), data.topPaths);
    table("not-found", "Top 404 paths", ranked("Path"), data.topNotFoundPaths);
    table("methods", "Methods", ranked("Method"), data.methods);
    table("referrers", "Top referrers", ranked("Referrer"), data.topReferrers);
    table("agents", "Top user agents", ranked("User agent"), data.topAgents);
    if (data.topHosts) {
      table("hosts", "Virtual hosts", [
        col("Host", (r) => r.host), col("Requests", (r) => r.requests, int), col("Share", (r) => r.share, pct),
        col("Error rate", (r) => r.errorRate, pct), col("p95", (r) => r.p95 ?? -1, (v) => (v < 0 ? "-" : secs(v))),
      ], data.topHosts);
    }
    if (data.latency) {
      table("latency-class", "Response times by class", latencyCols(col("Class", (r) => r.class)), [{ class: "all", ...data.latency.all }, ...data.latency.byClass]);
      table("latency-paths", "Response times of the top paths", latencyCols(col("Path", (r) => r.path)), data.latency.byPath);
      table("slowest-paths", "Slowest paths by p95", latencyCols(col("Path", (r) => r.path)), data.latency.slowestPaths, `Paths with at least ${data.latency.slowPathMinRequests} timed requests.`);
    }
    if (data.groups) {
      table("groups", `By ${data.groups.field}`, [
        col(data.groups.field, (r) => r.key), col("Requests", (r) => r.requests, int), col("Share", (r) => r.share, pct),
        col("4xx rate", (r) => r.errorRate4xx, pct), col("5xx rate", (r) => r.errorRate5xx, pct), col("Bytes", (r) => r.bytes, bytes),
      ], data.groups.rows, `${int(data.groups.count)} distinct values.`);
    }
    table("malformed-reasons", "Malformed lines by reason", [col("Reason", (r) => r.reason), col("Lines", (r) => r.count, int), col("Share", (r) => r.share, pct)], data.malformedReasons);
    table("malformed", "Malformed samples", [col("Input", (r) => r.input), col("Line", (r) => r.line, int), col("Reason", (r) => r.reason ?? ""), col("Text", (r) => r.text)], data.malformedSamples);

    // The run: timings and retries, collapsed (they differ between runs of the same data).
    if (run) {
      const details = el("details", { id: "run" }, el("summary", null, "Run details"),
        el("p", { class: "note" }, `${run.cpuModel}, ${run.cores} cores, ${run.platform}; ${run.tasks} tasks; reduce ${int(run.reduceMs)} ms; ${int(run.linesPerSecond)} lines/s; ${run.retries.length} retried`));
      root.append(details);
      const box = el("div");
      details.append(box);
      const put = (id, title, columns, rows) => {
        const before = root.lastChild;
        table(id, title, columns, rows);
        if (root.lastChild !== before) box.append(root.lastChild);
      };
      put("workers", "Workers", [col("pid", (r) => r.pid, String), col("Host", (r) => r.host ?? "local"), col("Tasks", (r) => r.tasks, int), col("Spawn ms", (r) => r.spawnMs, int), col("Map ms", (r) => r.mapMs, int), col("Max RSS MB", (r) => r.maxRssMb, (v) => v.toFixed(1))], run.workerTimings);
      put("reducers", "Reducers", [col("pid", (r) => r.pid, String), col("Partition", (r) => r.partition, int), col("Reduce ms", (r) => r.ms, int), col("Max RSS MB", (r) => r.maxRssMb, (v) => v.toFixed(1))], run.memory?.reducers ?? []);
      put("retries", "Retries", [col("Task", (r) => r.task), col("Failed attempts", (r) => r.failedAttempts, int), col("Causes", (r) => r.causes.join("; ")), col("Cost ms", (r) => r.costMs, int)], run.retries);
    }
  }

  const bench = document.getElementById("bench-data");
  if (bench) benchPage(read("bench-data"));
  else reportPage(read("report-data"), read("report-run"));
  drawCharts();
  document.documentElement.setAttribute("data-ready", "1");
})();
