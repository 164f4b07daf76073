// Time ranges as people pick them: a preset relative to now ("24h") or an absolute span, as
// kept in URLs (?range=24h or ?from=<ms>&to=<ms>) and turned into the API's from/to.

export const PRESETS = { '15m': 15 * 60_000, '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 } as const;
export type Preset = keyof typeof PRESETS;
export type TimeRange = { preset: Preset } | { from: number; to: number };

export const PRESET_LABEL: Record<Preset, string> = { '15m': '15 min', '1h': '1 h', '6h': '6 h', '24h': '24 h', '7d': '7 d', '30d': '30 d' };

export function resolveRange(r: TimeRange, now = Date.now()): { from: number; to: number } {
  return 'preset' in r ? { from: now - PRESETS[r.preset], to: now } : { from: r.from, to: r.to };
}

export function rangeFromParams(p: URLSearchParams, fallback: TimeRange): TimeRange {
  const preset = p.get('range');
  if (preset && preset in PRESETS) return { preset: preset as Preset };
  const from = Number(p.get('from')), to = Number(p.get('to'));
  if (p.has('from') && p.has('to') && Number.isFinite(from) && Number.isFinite(to) && from < to) return { from, to };
  return fallback;
}

/** Writes the range into `p` (a copy), dropping the other form. */
export function rangeToParams(r: TimeRange, p: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams(p);
  out.delete('range');
  out.delete('from');
  out.delete('to');
  if ('preset' in r) out.set('range', r.preset);
  else {
    out.set('from', String(Math.round(r.from)));
    out.set('to', String(Math.round(r.to)));
  }
  return out;
}

/** Value of an <input type="datetime-local"> for a time (local time, minutes). */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(v: string): number | null {
  const t = new Date(v).getTime();
  return Number.isFinite(t) ? t : null;
}

/** "24 h" or "3 Dec 10:00 – 3 Dec 12:30". */
export function describeRange(r: TimeRange): string {
  if ('preset' in r) return `last ${PRESET_LABEL[r.preset]}`;
  const f = (ms: number) => new Date(ms).toLocaleString(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  return `${f(r.from)} – ${f(r.to)}`;
}
