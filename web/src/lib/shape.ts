// Pure data shaping for views and charts (unit-tested in tests/shape.test.ts): API rows to
// uPlot columns, live-point merging with a sliding window, Prometheus text parsing, and the
// aggregations behind the overview and security views.
import type { Anomaly, Bucket, Device, DeviceEvent, LivePoint, RawPoint, Rule, Severity } from '@/api/types';

/** Column-oriented series for one metric; ts in ms, ascending. Rollups fill min/max/count. */
export interface Series {
  ts: number[];
  value: number[];
  min?: number[];
  max?: number[];
  count?: number[];
  /** the newest point folded in live (mergeLiveBuckets), shown as the chart's latest value */
  last?: { ts: number; value: number };
}

export function groupRaw(points: RawPoint[]): Record<string, Series> {
  const out: Record<string, Series> = {};
  for (const p of points) {
    const s = (out[p.metric] ??= { ts: [], value: [] });
    s.ts.push(p.ts);
    s.value.push(p.value);
  }
  for (const s of Object.values(out)) sortSeries(s);
  return out;
}

export function groupBuckets(buckets: Bucket[]): Record<string, Series> {
  const out: Record<string, Series> = {};
  for (const b of buckets) {
    const s = (out[b.metric] ??= { ts: [], value: [], min: [], max: [], count: [] });
    s.ts.push(b.ts);
    s.value.push(b.avg);
    s.min!.push(b.min);
    s.max!.push(b.max);
    s.count!.push(b.count);
  }
  for (const s of Object.values(out)) sortSeries(s);
  return out;
}

function sortSeries(s: Series): void {
  let sorted = true;
  for (let i = 1; i < s.ts.length; i++) if (s.ts[i] < s.ts[i - 1]) { sorted = false; break; }
  if (sorted) return;
  const idx = s.ts.map((_, i) => i).sort((a, b) => s.ts[a] - s.ts[b]);
  const pick = (arr: number[]) => idx.map((i) => arr[i]);
  s.ts = pick(s.ts);
  s.value = pick(s.value);
  if (s.min) s.min = pick(s.min);
  if (s.max) s.max = pick(s.max);
  if (s.count) s.count = pick(s.count);
}

/**
 * Folds live points of one device into rollup buckets of `stepMs` (aligned as the API's: to
 * multiples of the step), so a live chart holds at most windowMs / stepMs buckets per metric
 * and costs the same at 1 or 10,000 points a second. A point updates its bucket's min, max,
 * average and count (a point that replaces an earlier value at the same timestamp is counted
 * as one more: the next fetch of the range corrects it). New object and arrays per changed
 * metric, so React and uPlot see the change and untouched charts do not redraw; buckets that
 * ended before `now - windowMs` are dropped.
 */
export function mergeLiveBuckets(
  series: Record<string, Series>,
  points: LivePoint[],
  stepMs: number,
  windowMs: number,
  now: number,
): Record<string, Series> {
  const out = { ...series };
  const touched = new Set<string>();
  for (const p of points) {
    if (!Number.isFinite(p.value) || !Number.isFinite(p.ts)) continue;
    let s = out[p.metric];
    if (!touched.has(p.metric)) {
      const n0 = s ? s.ts.length : 0;
      s = s
        ? { ts: s.ts.slice(), value: s.value.slice(), min: (s.min ?? s.value).slice(), max: (s.max ?? s.value).slice(), count: s.count ? s.count.slice() : new Array<number>(n0).fill(1) }
        : { ts: [], value: [], min: [], max: [], count: [] };
      if (series[p.metric]?.last) s.last = series[p.metric].last;
      out[p.metric] = s;
      touched.add(p.metric);
    }
    if (!s.last || p.ts >= s.last.ts) s.last = { ts: p.ts, value: p.value };
    const b = p.ts - (((p.ts % stepMs) + stepMs) % stepMs);
    const { ts, value, min, max, count } = s as Required<Series>;
    const n = ts.length;
    let i = n;
    if (n > 0 && b <= ts[n - 1]) {
      let lo = 0, hi = n; // first bucket at or after b
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ts[mid] < b) lo = mid + 1; else hi = mid;
      }
      i = lo;
    }
    if (i < n && ts[i] === b) {
      const c = count[i];
      value[i] = (value[i] * c + p.value) / (c + 1);
      count[i] = c + 1;
      if (p.value < min[i]) min[i] = p.value;
      if (p.value > max[i]) max[i] = p.value;
    } else {
      ts.splice(i, 0, b);
      value.splice(i, 0, p.value);
      min.splice(i, 0, p.value);
      max.splice(i, 0, p.value);
      count.splice(i, 0, 1);
    }
  }
  const cutoff = now - windowMs;
  for (const m of touched) {
    const s = out[m] as Required<Series>;
    let drop = 0;
    while (drop < s.ts.length && s.ts[drop] + stepMs <= cutoff) drop++;
    if (drop > 0) for (const a of [s.ts, s.value, s.min, s.max, s.count]) a.splice(0, drop);
  }
  return out;
}

/** Sum of a Prometheus counter over all label sets, e.g. iotad_ingest_points_total. */
export function promCounter(text: string, name: string): number | null {
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const after = rest[0] === '{' ? rest.slice(rest.lastIndexOf('}') + 1) : rest;
    const v = Number(after.trim().split(/\s+/)[0]);
    if (Number.isFinite(v)) { total += v; found = true; }
  }
  return found ? total : null;
}

/** Rate per second between two counter samples; null when unknown or the counter reset. */
export function counterRate(prev: { v: number; at: number } | null, cur: { v: number; at: number }): number | null {
  if (!prev || cur.at <= prev.at || cur.v < prev.v) return null;
  return ((cur.v - prev.v) * 1000) / (cur.at - prev.at);
}

export function statusCounts(devices: Device[]): { online: number; offline: number; total: number } {
  let online = 0;
  for (const d of devices) if (d.status === 'online') online++;
  return { online, offline: devices.length - online, total: devices.length };
}

export function severityCounts(anomalies: Anomaly[]): Record<Severity, number> {
  const c: Record<Severity, number> = { critical: 0, warning: 0, info: 0 };
  for (const a of anomalies) if (a.severity in c) c[a.severity]++;
  return c;
}

/** Hourly bins of the last 24 h, stacked by severity. */
export function hourlyBySeverity(items: Pick<Anomaly, 'detected_at' | 'severity'>[], now: number, hours = 24): Record<Severity, number>[] {
  const bins = Array.from({ length: hours }, () => ({ critical: 0, warning: 0, info: 0 }) as Record<Severity, number>);
  const start = now - hours * 3_600_000;
  for (const a of items) {
    const k = Math.floor((a.detected_at - start) / 3_600_000);
    if (k >= 0 && k < hours && a.severity in bins[k]) bins[k][a.severity]++;
  }
  return bins;
}

/** Online / total per device type or site, most devices first. */
export function fleetGroups(items: Device[], by: 'type' | 'site'): { key: string; online: number; total: number }[] {
  const m = new Map<string, { online: number; total: number }>();
  for (const d of items) {
    const site = typeof d.attributes?.site === 'string' ? d.attributes.site : d.location.split(',')[0].trim();
    const k = (by === 'type' ? d.type : site) || '—';
    const g = m.get(k) ?? { online: 0, total: 0 };
    g.total++;
    if (d.status === 'online') g.online++;
    m.set(k, g);
  }
  return [...m.entries()].map(([key, g]) => ({ key, ...g })).sort((a, b) => b.total - a.total || a.key.localeCompare(b.key));
}

/** Most frequent values of `key(e)` over events, descending, ties by name. */
export function topOffenders(
  events: DeviceEvent[],
  key: (e: DeviceEvent) => string | null | undefined,
  n = 5,
): { key: string; count: number }[] {
  const m = new Map<string, number>();
  for (const e of events) {
    const k = key(e);
    if (!k) continue;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m.entries()]
    .map(([k, count]) => ({ key: k, count }))
    .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key))
    .slice(0, n);
}

export interface Heatmap {
  rows: string[]; // device ids, most events first
  bins: number; // columns
  from: number;
  binMs: number;
  cells: number[][]; // rows x bins counts
  max: number;
}

/** Device x time counts of events in [from, to), `bins` equal columns, top `maxRows` devices. */
export function eventHeatmap(events: DeviceEvent[], from: number, to: number, bins: number, maxRows = 20): Heatmap {
  const binMs = Math.max(1, Math.ceil((to - from) / bins));
  const top = topOffenders(events.filter((e) => e.ts >= from && e.ts < to), (e) => e.device_id, maxRows);
  const rows = top.map((t) => t.key);
  const index = new Map(rows.map((r, i) => [r, i]));
  const cells = rows.map(() => new Array<number>(bins).fill(0));
  let max = 0;
  for (const e of events) {
    if (e.ts < from || e.ts >= to || !e.device_id) continue;
    const r = index.get(e.device_id);
    if (r === undefined) continue;
    const b = Math.min(bins - 1, Math.floor((e.ts - from) / binMs));
    const v = ++cells[r][b];
    if (v > max) max = v;
  }
  return { rows, bins, from, binMs, cells, max };
}

export interface StatusSpan { status: string; from: number; to: number }

/** Online/offline spans from status events (any order), ending at `now`. */
export function statusSpans(events: DeviceEvent[], now: number): StatusSpan[] {
  const st = events.filter((e) => e.category === 'status').sort((a, b) => a.ts - b.ts);
  const spans: StatusSpan[] = [];
  for (let i = 0; i < st.length; i++) {
    const cur = st[i];
    const last = spans[spans.length - 1];
    if (last && last.status === cur.kind) continue;
    if (last) last.to = cur.ts;
    spans.push({ status: cur.kind, from: cur.ts, to: now });
  }
  return spans;
}

/** Bucket widths the charts use (ms), smallest first. */
const NICE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);

/**
 * Bucket width for a chart over `spanMs` (ms): the smallest round width that gives at most
 * `buckets` buckets (about a pixel each); min/max/avg per bucket come from the API's rollup, so
 * a chart costs the same at 1,000 or 1,000,000 points in range. 1 s at the least (the API's).
 */
export function bucketStep(spanMs: number, buckets = CHART_BUCKETS): number {
  const want = spanMs / buckets;
  return NICE_STEPS.find((s) => s >= want) ?? Math.ceil(want / 86_400_000) * 86_400_000;
}
export const CHART_BUCKETS = 1000;

/** "5 s", "2 min", "1 h", "2 d". */
export function fmtStep(ms: number): string {
  if (ms < 60_000) return `${ms / 1000} s`;
  if (ms < 3_600_000) return `${ms / 60_000} min`;
  if (ms < 86_400_000) return `${ms / 3_600_000} h`;
  return `${ms / 86_400_000} d`;
}

/** Threshold lines of the enabled above/below rules that apply to a device's metric. */
export function ruleThresholds(
  rules: Pick<Rule, 'name' | 'device_id' | 'device_type' | 'metric' | 'kind' | 'threshold' | 'enabled'>[],
  deviceId: string,
  deviceType: string,
  metric: string,
): { value: number; label: string }[] {
  return rules
    .filter((r) => r.enabled && r.metric === metric && (r.kind === 'above' || r.kind === 'below') && typeof r.threshold === 'number')
    .filter((r) => (r.device_id ? r.device_id === deviceId : !r.device_type || r.device_type === deviceType))
    .map((r) => ({ value: r.threshold as number, label: `${r.name} (${r.kind} ${r.threshold})` }));
}

/** Time range presets of the device detail view. */
export type RangeKey = 'live' | '1h' | '24h' | '7d';
export const RANGES: Record<RangeKey, { label: string; windowMs: number }> = {
  live: { label: 'Live', windowMs: 15 * 60_000 },
  '1h': { label: '1 h', windowMs: 3_600_000 },
  '24h': { label: '24 h', windowMs: 86_400_000 },
  '7d': { label: '7 d', windowMs: 7 * 86_400_000 },
};

/** A window of `spanMs` moved by `frac` of its width (negative: earlier), never past `now`. */
export function panWindow(from: number, to: number, frac: number, now: number): { from: number; to: number } {
  const span = to - from;
  let f = from + Math.trunc(span * frac);
  if (f + span > now) f = now - span;
  return { from: f, to: f + span };
}
