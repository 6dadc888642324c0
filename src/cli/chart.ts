// The scaling curve: speedup against workers, with the ideal line, drawn in
// the terminal and as an SVG file.

export interface ScalingPoint {
  workers: number;
  speedup: number;
}

/** A small text plot: one row per worker count, a bar for the speedup and a mark for the ideal. */
export function scalingChart(points: readonly ScalingPoint[], width = 40): string {
  if (points.length === 0) return "";
  const max = Math.max(...points.map((p) => Math.max(p.workers, p.speedup)));
  const scale = (x: number) => Math.round((x / max) * width);
  const rows = points.map((p) => {
    const bar = "█".repeat(Math.max(0, scale(p.speedup)));
    const ideal = scale(p.workers);
    const line = bar.length >= ideal ? bar : `${bar}${" ".repeat(ideal - bar.length - 1)}┊`;
    return `  ${String(p.workers).padStart(3)} workers  ${line.padEnd(width + 1)}  ${p.speedup.toFixed(2)}x (ideal ${p.workers}x)`;
  });
  return ["Scaling (speedup against 1 worker; ┊ marks the ideal)", ...rows].join("\n");
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** An SVG line chart of speedup against workers, with the ideal diagonal. */
export function scalingSvg(points: readonly ScalingPoint[], title: string): string {
  const W = 480;
  const H = 360;
  const m = { left: 56, right: 24, top: 40, bottom: 48 };
  const maxX = Math.max(1, ...points.map((p) => p.workers));
  const maxY = Math.max(1, maxX, ...points.map((p) => p.speedup));
  const x = (v: number) => m.left + ((v - 1) / Math.max(1, maxX - 1)) * (W - m.left - m.right);
  const y = (v: number) => H - m.bottom - (v / maxY) * (H - m.top - m.bottom);
  const ticks = Array.from({ length: Math.floor(maxY) + 1 }, (_, k) => k);
  const measured = points.map((p) => `${x(p.workers).toFixed(1)},${y(p.speedup).toFixed(1)}`).join(" ");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
  <title>${esc(title)}</title>
  <rect width="${W}" height="${H}" fill="white"/>
  <text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>
  <line x1="${m.left}" y1="${H - m.bottom}" x2="${W - m.right}" y2="${H - m.bottom}" stroke="black"/>
  <line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${H - m.bottom}" stroke="black"/>
${ticks.map((t) => `  <text x="${m.left - 8}" y="${y(t) + 4}" text-anchor="end">${t}x</text>`).join("\n")}
${points.map((p) => `  <text x="${x(p.workers)}" y="${H - m.bottom + 18}" text-anchor="middle">${p.workers}</text>`).join("\n")}
  <text x="${W / 2}" y="${H - 10}" text-anchor="middle">workers</text>
  <line x1="${x(1)}" y1="${y(1)}" x2="${x(maxX)}" y2="${y(maxX)}" stroke="#999" stroke-dasharray="6 4"/>
  <text x="${x(maxX) - 4}" y="${y(maxX) - 6}" text-anchor="end" fill="#666">ideal</text>
  <polyline points="${measured}" fill="none" stroke="#1f6feb" stroke-width="2"/>
${points.map((p) => `  <circle cx="${x(p.workers).toFixed(1)}" cy="${y(p.speedup).toFixed(1)}" r="4" fill="#1f6feb"><title>${p.workers} workers: ${p.speedup.toFixed(2)}x</title></circle>`).join("\n")}
</svg>
`;
}
