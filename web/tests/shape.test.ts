import { describe, expect, it } from 'vitest';
import {
  counterRate, eventHeatmap, groupBuckets, groupRaw, mergeLiveBuckets, promCounter, severityCounts, statusCounts,
  statusSpans, topOffenders,
} from '@/lib/shape';
import type { Anomaly, Device, DeviceEvent } from '@/api/types';

const ev = (ts: number, device_id: string | null, kind = 'auth_failure', peer: string | null = '10.0.0.1:5000', category = 'security'): DeviceEvent => ({
  id: `${ts}-${device_id}-${kind}`, ts, device_id, category, kind, transport: 'mqtt', peer, detail: null,
});

describe('groupRaw / groupBuckets', () => {
  it('splits raw points into per-metric series sorted by time', () => {
    const s = groupRaw([
      { ts: 3, metric: 'temp', value: 3 },
      { ts: 1, metric: 'temp', value: 1 },
      { ts: 2, metric: 'hum', value: 50 },
    ]);
    expect(Object.keys(s).sort()).toEqual(['hum', 'temp']);
    expect(s.temp.ts).toEqual([1, 3]);
    expect(s.temp.value).toEqual([1, 3]);
  });
  it('uses avg as the line and keeps min/max for the band', () => {
    const s = groupBuckets([{ ts: 60000, metric: 't', min: 1, max: 5, avg: 3, count: 4 }]);
    expect(s.t).toEqual({ ts: [60000], value: [3], min: [1], max: [5], count: [4] });
  });
});

describe('mergeLiveBuckets', () => {
  const pt = (ts: number, value: number, metric = 't') => ({ metric, ts, value });
  it('folds points into aligned buckets with min, max, average and count, input untouched', () => {
    const before = { t: { ts: [1000], value: [1], min: [1], max: [1], count: [1] } };
    const after = mergeLiveBuckets(before, [pt(1500, 3), pt(1999, 5), pt(2000, 7)], 1000, 60_000, 2000);
    expect(after.t).toEqual({ ts: [1000, 2000], value: [3, 7], min: [1, 7], max: [5, 7], count: [3, 1], last: { ts: 2000, value: 7 } });
    expect(before.t.ts).toEqual([1000]);
    expect(before.t.count).toEqual([1]);
    expect(after).not.toBe(before);
  });
  it('weights a server bucket by its count and inserts an out-of-order bucket in place', () => {
    const s = { t: { ts: [0, 3000], value: [10, 30], min: [5, 30], max: [15, 30], count: [4, 1] } };
    const a = mergeLiveBuckets(s, [pt(500, 20), pt(1200, 2)], 1000, 60_000, 3000);
    expect(a.t.ts).toEqual([0, 1000, 3000]);
    expect(a.t.value).toEqual([12, 2, 30]);
    expect(a.t.count).toEqual([5, 1, 1]);
    expect(a.t.max).toEqual([20, 2, 30]);
    // the newest point stays the latest even when an older one arrives after it
    expect(mergeLiveBuckets(a, [pt(3500, 9), pt(100, 1)], 1000, 60_000, 3500).t.last).toEqual({ ts: 3500, value: 9 });
  });
  it('holds at most window / step buckets whatever the point rate', () => {
    // 15 min of 100 points per second: 90,000 points into 900 one-second buckets
    let s = {};
    for (let sec = 0; sec < 900; sec++)
      s = mergeLiveBuckets(s, Array.from({ length: 100 }, (_, i) => pt(sec * 1000 + i * 10, i)), 1000, 900_000, sec * 1000 + 999);
    const t = (s as Record<string, { ts: number[]; count: number[] }>).t;
    expect(t.ts.length).toBe(900);
    expect(t.count.every((c) => c === 100)).toBe(true);
    // a minute later the oldest minute has left the window
    s = mergeLiveBuckets(s, [pt(960_000, 1)], 1000, 900_000, 960_500);
    expect((s as Record<string, { ts: number[] }>).t.ts[0]).toBe(60_000);
  });
  it('turns a raw series into buckets, creates new metrics and skips non-finite values', () => {
    const a = mergeLiveBuckets({ r: { ts: [1000], value: [4] } }, [pt(1100, 6, 'r'), pt(5, NaN, 'new'), pt(6, 1, 'new')], 1000, 1e9, 2000);
    expect(a.r).toMatchObject({ ts: [1000], value: [5], min: [4], max: [6], count: [2] });
    expect(a.new).toEqual({ ts: [0], value: [1], min: [1], max: [1], count: [1], last: { ts: 6, value: 1 } });
  });
});

describe('promCounter / counterRate', () => {
  const text = [
    '# HELP iotad_ingest_points_total Points accepted.',
    '# TYPE iotad_ingest_points_total counter',
    'iotad_ingest_points_total{transport="mqtt"} 100',
    'iotad_ingest_points_total{transport="http"} 23',
    'iotad_ingest_points_total_other 999',
    'iotad_connections{listener="mqtt"} 4',
  ].join('\n');
  it('sums a counter over its label sets and ignores look-alike names', () => {
    expect(promCounter(text, 'iotad_ingest_points_total')).toBe(123);
    expect(promCounter(text, 'missing_total')).toBeNull();
  });
  it('turns two samples into a per-second rate and refuses resets', () => {
    expect(counterRate({ v: 100, at: 0 }, { v: 150, at: 5000 })).toBe(10);
    expect(counterRate(null, { v: 1, at: 1 })).toBeNull();
    expect(counterRate({ v: 100, at: 0 }, { v: 5, at: 1000 })).toBeNull();
  });
});

describe('fleet aggregations', () => {
  it('counts online and offline devices', () => {
    const d = (status: string) => ({ status }) as Device;
    expect(statusCounts([d('online'), d('offline'), d('online'), d('unknown')])).toEqual({ online: 2, offline: 2, total: 4 });
  });
  it('counts anomalies per severity', () => {
    const a = (severity: string) => ({ severity }) as Anomaly;
    expect(severityCounts([a('critical'), a('info'), a('critical'), a('bogus')])).toEqual({ critical: 2, warning: 0, info: 1 });
  });
  it('ranks offenders by count, then name, and skips missing keys', () => {
    const events = [ev(1, 'b'), ev(2, 'a'), ev(3, 'b'), ev(4, null), ev(5, 'c')];
    expect(topOffenders(events, (e) => e.device_id, 2)).toEqual([{ key: 'b', count: 2 }, { key: 'a', count: 1 }]);
  });
});

describe('eventHeatmap', () => {
  it('bins events per device and time, busiest device first', () => {
    const events = [ev(0, 'a'), ev(15, 'b'), ev(19, 'b'), ev(19, 'b'), ev(25, 'a'), ev(100, 'a')];
    const h = eventHeatmap(events, 0, 30, 3);
    expect(h.rows).toEqual(['b', 'a']);
    expect(h.cells[0]).toEqual([0, 3, 0]);
    expect(h.cells[1]).toEqual([1, 0, 1]);
    expect(h.max).toBe(3);
  });
  it('limits the number of rows', () => {
    const events = ['a', 'b', 'c'].map((d, i) => ev(i, d));
    expect(eventHeatmap(events, 0, 10, 2, 2).rows).toHaveLength(2);
  });
});

describe('statusSpans', () => {
  it('merges repeated states and closes the last span at now', () => {
    const s = statusSpans(
      [ev(30, 'a', 'offline', null, 'status'), ev(10, 'a', 'online', null, 'status'), ev(20, 'a', 'online', null, 'status'), ev(5, 'a', 'auth_failure')],
      50,
    );
    expect(s).toEqual([
      { status: 'online', from: 10, to: 30 },
      { status: 'offline', from: 30, to: 50 },
    ]);
  });
});
