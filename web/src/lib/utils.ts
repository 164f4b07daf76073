// Small shared helpers: class-name merging (shadcn style) and formatting.
import { clsx, type ClassValue } from 'clsx';
import { twMerge } from 'tailwind-merge';

export function cn(...inputs: ClassValue[]): string {
  return twMerge(clsx(inputs));
}

// One formatter for every time shown: `Date.toLocaleString(locale, options)` builds a new
// Intl.DateTimeFormat on each call (~50 us; with 500 anomaly rows that was most of a render).
let timeFormat: Intl.DateTimeFormat | null = null;

export function fmtTime(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '—';
  timeFormat ??= new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  return timeFormat.format(ms);
}

/** "5 s ago", "3 min ago", "2 h ago", "4 d ago"; "never" for null. */
export function fmtAgo(ms: number | null | undefined, now = Date.now()): string {
  if (ms == null) return 'never';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function fmtNumber(v: number | null | undefined, digits = 2): string {
  if (v == null || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  return Number.isInteger(v) ? String(v) : v.toFixed(digits);
}
