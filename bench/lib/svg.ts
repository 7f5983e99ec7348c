/**
 * Grouped bar charts as standalone SVG text (no chart library): one group per category on the x
 * axis, one bar per series inside each group, an optional whisker per bar (the min–max spread of the
 * runs), an optional log scale (latencies) and optional dashed reference lines (targets).
 *
 * Thread: any (pure string building).
 * @module
 */

/** One bar series (one colour). */
export interface Series {
  name: string;
  /** One value per group; null/NaN leaves a gap. */
  values: Array<number | null>;
  /** Whisker ends per group (min and max of the runs); optional. */
  low?: Array<number | null>;
  high?: Array<number | null>;
}

/** A reference line across the plot. */
export interface RefLine {
  value: number;
  label: string;
}

/** What to draw. */
export interface BarChart {
  title: string;
  subtitle?: string;
  yLabel: string;
  groups: string[];
  series: Series[];
  log?: boolean;
  refLines?: RefLine[];
  /** Value labels above the bars (default true). */
  labels?: boolean;
  /** Formats axis ticks and labels (default: compact numbers). */
  format?: (v: number) => string;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f', '#bab0ac'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1234 → "1.2k", 1234567 → "1.23M", 0.5 → "0.5". */
export function compact(v: number): string {
  if (!Number.isFinite(v)) return '';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${Math.round(v / 1e3)}k`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(2)}k`;
  if (a >= 10) return String(Math.round(v));
  return String(+v.toPrecision(2));
}

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

const ok = (v: number | null | undefined): v is number => v !== null && v !== undefined && Number.isFinite(v);

/** Renders `c` as an SVG document. */
export function barChartSvg(c: BarChart): string {
  const fmt = c.format ?? compact;
  const nG = c.groups.length;
  const nS = c.series.length;
  const barW = Math.max(8, Math.min(28, 360 / Math.max(1, nS * nG)));
  const groupW = barW * nS + 18;
  const left = 72;
  const right = 16;
  const top = c.subtitle ? 62 : 44;
  const plotH = 280;
  const legendRows = Math.ceil(nS / 4);
  const bottom = 72 + legendRows * 18;
  // Wide enough for the bars, and for the title and subtitle (about 8.6 / 6.3 px per character).
  const textW = Math.max(c.title.length * 9.2, (c.subtitle ?? '').length * 6.7) - left + right + 8;
  const plotW = Math.max(360, groupW * nG, textW);
  const width = left + plotW + right;
  const height = top + plotH + bottom;

  const all: number[] = [];
  for (const s of c.series) for (const arr of [s.values, s.high ?? [], s.low ?? []]) for (const v of arr) if (ok(v)) all.push(v);
  for (const r of c.refLines ?? []) all.push(r.value);
  const positive = all.filter((v) => v > 0);
  let y: (v: number) => number;
  const ticks: number[] = [];
  if (c.log === true && positive.length > 0) {
    const lo = 10 ** Math.floor(Math.log10(Math.min(...positive) * 0.98)); // strictly below the smallest bar
    const hi = 10 ** Math.ceil(Math.log10(Math.max(...positive)));
    const l0 = Math.log10(lo);
    const l1 = Math.max(l0 + 1, Math.log10(hi));
    y = (v) => top + plotH - ((Math.log10(Math.max(v, lo)) - l0) / (l1 - l0)) * plotH;
    for (let e = l0; e <= l1 + 1e-9; e++) ticks.push(10 ** e);
  } else {
    const max = all.length > 0 ? Math.max(...all, 0) : 1;
    const step = niceStep(max > 0 ? max : 1, 5);
    const top0 = Math.ceil((max > 0 ? max : 1) / step) * step;
    y = (v) => top + plotH - (Math.max(0, v) / top0) * plotH;
    for (let t = 0; t <= top0 + step / 2; t += step) ticks.push(t);
  }
  const base = top + plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="22" font-size="15" font-weight="bold">${esc(c.title)}</text>`);
  if (c.subtitle) out.push(`<text x="${left}" y="40" fill="#555">${esc(c.subtitle)}</text>`);
  for (const t of ticks) {
    const ty = y(t);
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${ty.toFixed(1)}" y2="${ty.toFixed(1)}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${left - 6}" y="${(ty + 4).toFixed(1)}" text-anchor="end" fill="#444">${esc(fmt(t))}</text>`);
  }
  out.push(`<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(c.yLabel)}${c.log === true ? ' (log scale)' : ''}</text>`);
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${base}" y2="${base}" stroke="#333"/>`);
  const slot = plotW / Math.max(1, nG);
  c.groups.forEach((g, gi) => {
    const gx = left + gi * slot + (slot - barW * nS) / 2;
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      if (!ok(v)) return;
      const x = gx + si * barW;
      const yTop = y(v);
      const colour = PALETTE[si % PALETTE.length]!;
      out.push(`<rect x="${x.toFixed(1)}" y="${yTop.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${Math.max(0.5, base - yTop).toFixed(1)}" fill="${colour}"><title>${esc(`${g} · ${s.name}: ${fmt(v)}`)}</title></rect>`);
      const lo = s.low?.[gi];
      const hi = s.high?.[gi];
      if (ok(lo) && ok(hi) && hi > lo) {
        const cx = x + (barW - 2) / 2;
        out.push(`<path d="M${cx.toFixed(1)} ${y(hi).toFixed(1)}V${y(lo).toFixed(1)}M${(cx - 3).toFixed(1)} ${y(hi).toFixed(1)}h6M${(cx - 3).toFixed(1)} ${y(lo).toFixed(1)}h6" stroke="#222" stroke-width="1"/>`);
      }
      if (c.labels !== false && barW >= 14) out.push(`<text x="${(x + (barW - 2) / 2).toFixed(1)}" y="${(Math.min(yTop, ok(hi) ? y(hi) : yTop) - 4).toFixed(1)}" text-anchor="middle" font-size="9" fill="#333">${esc(fmt(v))}</text>`);
    });
    // A label wider than its slot goes on two lines, split at its last space.
    const cx = (left + gi * slot + slot / 2).toFixed(1);
    const cut = g.lastIndexOf(' ');
    if (g.length * 6.6 > slot - 4 && cut > 0) {
      out.push(`<text x="${cx}" y="${base + 16}" text-anchor="middle" fill="#222">${esc(g.slice(0, cut))}</text>`);
      out.push(`<text x="${cx}" y="${base + 30}" text-anchor="middle" fill="#222">${esc(g.slice(cut + 1))}</text>`);
    } else out.push(`<text x="${cx}" y="${base + 16}" text-anchor="middle" fill="#222">${esc(g)}</text>`);
  });
  for (const r of c.refLines ?? []) {
    const ry = y(r.value);
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${ry.toFixed(1)}" y2="${ry.toFixed(1)}" stroke="#c00" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${left + plotW - 4}" y="${(ry - 4).toFixed(1)}" text-anchor="end" fill="#c00" font-size="11">${esc(r.label)}</text>`);
  }
  const ly = base + 52;
  c.series.forEach((s, si) => {
    const lx = left + (si % 4) * Math.max(150, plotW / 4);
    const row = Math.floor(si / 4);
    out.push(`<rect x="${lx}" y="${ly + row * 18 - 10}" width="12" height="12" fill="${PALETTE[si % PALETTE.length]!}"/>`);
    out.push(`<text x="${lx + 17}" y="${ly + row * 18}" fill="#222">${esc(s.name)}</text>`);
  });
  out.push(`<text x="${width - right}" y="${height - 6}" text-anchor="end" font-size="10" fill="#888">whiskers: min–max over runs</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
