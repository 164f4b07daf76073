import { describe, expect, it } from 'vitest';
import type { Device, Rule } from '@/api/types';
import { bucketStep, fleetGroups, fmtStep, hourlyBySeverity, panWindow, ruleThresholds } from '@/lib/shape';
import { describeRange, rangeFromParams, rangeToParams, resolveRange } from '@/lib/range';
import { xScaleRange, yScaleRange } from '@/components/TimeSeriesChart';
import { deviceRange } from '@/features/devices/Telemetry';
import { fmtBytes, fmtRecords, humanKey, kindsFor, pending, reportState } from '@/features/reports/reports';

describe('chart ranges', () => {
  it('x: the zoom wins over the window, the window over the data', () => {
    expect(xScaleRange([2000, 4000], [0, 10000], 1, 9)).toEqual([2, 4]);
    expect(xScaleRange(null, [0, 10000], 1, 9)).toEqual([0, 10]);
    expect(xScaleRange(undefined, undefined, 1, 9)).toEqual([1, 9]);
    expect(xScaleRange(undefined, undefined, 5, 5)).toEqual([-25, 35]); // one point: a minute around it
  });
  it('y: holds the thresholds, with headroom', () => {
    const [lo, hi] = yScaleRange(20, 22, [30]);
    expect(lo).toBeLessThan(20);
    expect(hi).toBeGreaterThan(30);
    expect(yScaleRange(null, null, [])).toEqual([0, 1]);
    const [a, b] = yScaleRange(5, 5, []);
    expect(a).toBeLessThan(5);
    expect(b).toBeGreaterThan(5);
  });
  it('buckets: a round width giving at most ~1,000 per chart, 1 s at the least', () => {
    expect(bucketStep(86_400_000)).toBe(120_000); // 24 h: 2 min, 720 buckets
    expect(bucketStep(3_600_000)).toBe(5_000);
    expect(bucketStep(7 * 86_400_000)).toBe(900_000);
    expect(bucketStep(60_000)).toBe(1_000);
    expect(bucketStep(3 * 365 * 86_400_000)).toBe(2 * 86_400_000);
    for (const span of [1e6, 3.3e7, 8.64e7, 6.05e8, 2.6e9]) expect(span / bucketStep(span)).toBeLessThanOrEqual(1000);
    expect([fmtStep(5000), fmtStep(120_000), fmtStep(3_600_000), fmtStep(2 * 86_400_000)]).toEqual(['5 s', '2 min', '1 h', '2 d']);
  });
  it('pans half a span earlier or later, never past now', () => {
    expect(panWindow(1000, 2000, -0.5, 10_000)).toEqual({ from: 500, to: 1500 });
    expect(panWindow(1000, 2000, 0.5, 10_000)).toEqual({ from: 1500, to: 2500 });
    expect(panWindow(8000, 9000, 0.5, 9200)).toEqual({ from: 8200, to: 9200 });
  });
  it('thresholds: enabled above/below rules of this device, or of its type, or of all', () => {
    const rule = (over: Partial<Rule>): Rule => ({ id: 1, name: 'r', device_id: null, device_type: null, metric: 'temp', kind: 'above', threshold: 30, for_ms: 0, severity: 'warning', enabled: true, ...over });
    const rules = [
      rule({ name: 'mine', device_id: 'd1' }),
      rule({ name: 'other', device_id: 'd2' }),
      rule({ name: 'type', device_type: 'boiler', kind: 'below', threshold: 5 }),
      rule({ name: 'fleet', threshold: 50 }),
      rule({ name: 'off', enabled: false }),
      rule({ name: 'stale', kind: 'stale', threshold: null }),
      rule({ name: 'hum', metric: 'hum' }),
    ];
    expect(ruleThresholds(rules, 'd1', 'boiler', 'temp').map((t) => t.label)).toEqual(['mine (above 30)', 'type (below 5)', 'fleet (above 50)']);
    expect(ruleThresholds(rules, 'd3', 'meter', 'temp').map((t) => t.value)).toEqual([50]);
  });
  it('the device range comes from the URL', () => {
    expect(deviceRange(new URLSearchParams(''))).toEqual({ key: 'live', abs: null });
    expect(deviceRange(new URLSearchParams('range=24h&from=10&to=20'))).toEqual({ key: '24h', abs: { from: 10, to: 20 } });
    expect(deviceRange(new URLSearchParams('range=bogus&from=20&to=10'))).toEqual({ key: 'live', abs: null });
  });
});

describe('time ranges', () => {
  it('presets and absolute spans round-trip through the URL', () => {
    const p = rangeToParams({ from: 1000, to: 5000 }, new URLSearchParams('tab=x&range=24h'));
    expect(p.toString()).toBe('tab=x&from=1000&to=5000');
    expect(rangeFromParams(p, { preset: '1h' })).toEqual({ from: 1000, to: 5000 });
    expect(rangeFromParams(new URLSearchParams('range=7d'), { preset: '1h' })).toEqual({ preset: '7d' });
    expect(rangeFromParams(new URLSearchParams('from=9&to=1'), { preset: '1h' })).toEqual({ preset: '1h' });
    expect(resolveRange({ preset: '1h' }, 10_000_000)).toEqual({ from: 6_400_000, to: 10_000_000 });
    expect(describeRange({ preset: '24h' })).toBe('last 24 h');
  });
});

describe('overview shaping', () => {
  it('bins anomalies per hour by severity over the last 24 h', () => {
    const now = 100 * 3_600_000;
    const bins = hourlyBySeverity([
      { detected_at: now - 1000, severity: 'critical' },
      { detected_at: now - 1000, severity: 'warning' },
      { detected_at: now - 23.5 * 3_600_000, severity: 'info' },
      { detected_at: now - 30 * 3_600_000, severity: 'critical' }, // older: left out
    ], now);
    expect(bins).toHaveLength(24);
    expect(bins[23]).toEqual({ critical: 1, warning: 1, info: 0 });
    expect(bins[0]).toEqual({ critical: 0, warning: 0, info: 1 });
  });
  it('groups the fleet by type or site with online counts, biggest first', () => {
    const d = (type: string, site: string, status: string): Device => ({ id: type + site + status, name: 'x', owner_id: 'o', type, location: `${site}, Room 1`, firmware: '', attributes: {}, status, last_seen: null, created_at: 0, updated_at: 0 });
    const items = [d('cam', 'Berlin', 'online'), d('cam', 'Austin', 'offline'), d('gate', 'Berlin', 'online')];
    expect(fleetGroups(items, 'type')).toEqual([{ key: 'cam', online: 1, total: 2 }, { key: 'gate', online: 1, total: 1 }]);
    expect(fleetGroups(items, 'site')).toEqual([{ key: 'Berlin', online: 2, total: 2 }, { key: 'Austin', online: 0, total: 1 }]);
  });
});

describe('reports view', () => {
  it('offers compliance to Admins only', () => {
    expect(kindsFor('admin')).toEqual(['security', 'performance', 'compliance']);
    expect(kindsFor('analyst')).toEqual(['security', 'performance']);
    expect(kindsFor('device_owner')).toEqual([]);
  });
  it('says where a report is and whether to keep polling', () => {
    expect(reportState({ status: 'running', progress: 0.456, error: null })).toEqual({ label: 'Building', tone: 'warning', pct: 46 });
    expect(reportState({ status: 'failed', progress: 0, error: 'disk full' }).label).toBe('Failed: disk full');
    expect(pending([{ status: 'done' }, { status: 'queued' }])).toBe(true);
    expect(pending([{ status: 'done' }])).toBe(false);
  });
  it('formats keys, sizes and record counts', () => {
    expect(humanKey('auth_failures')).toBe('Auth failures');
    expect(fmtBytes(1536)).toBe('1.5 KB');
    expect(fmtRecords({ points: 1200, anomalies: 0, events: 3 })).toBe('1,200 points, 3 events');
    expect(fmtRecords(1117)).toBe('1,117 records');
  });
});
