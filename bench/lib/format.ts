/**
 * Number formatting for the Markdown tables.
 *
 * Thread: any (pure).
 * @module
 */
import type { Spread } from './stats.js';

/** 123456 → "123k". */
export const k = (x: number): string => (Number.isFinite(x) ? `${Math.round(x / 1000)}k` : '—');
/** Two decimals. */
export const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '—');
/** One decimal. */
export const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '—');
/** 0.123 → "12%". */
export const pct = (x: number): string => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '—');
/** 0.0123 → "1.23%" (for small shares such as idle CPU). */
export const pct2 = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : '—');
/** Microseconds: "87 µs", "1.24 ms", "12.3 ms". */
export const us = (x: number): string => {
  if (!Number.isFinite(x)) return '—';
  if (x < 1000) return `${Math.round(x)} µs`;
  if (x < 10_000) return `${(x / 1000).toFixed(2)} ms`;
  return `${(x / 1000).toFixed(1)} ms`;
};
/** Integer with thousands separators. */
export const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
/** Bytes: "812 B", "3.4 KiB", "12.1 MiB". */
export const bytes = (x: number): string => {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a < 1024) return `${Math.round(x)} B`;
  if (a < 1024 * 1024) return `${(x / 1024).toFixed(2)} KiB`;
  return `${(x / 1024 / 1024).toFixed(1)} MiB`;
};

/** "median (min–max)" of a spread, or the single value, or "—". */
export function range(s: Spread | null | undefined, fmt: (x: number) => string): string {
  if (s === null || s === undefined || s.n === 0) return '—';
  if (s.n === 1 || s.min === s.max) return fmt(s.median);
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
}

/** A Markdown table. */
export function mdTable(head: string[], align: Array<'l' | 'r'>, rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
