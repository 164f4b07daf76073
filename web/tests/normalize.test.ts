import { describe, expect, it } from 'vitest';
import { normalizeAlert, normalizeAnomaly, normalizeIncident, normalizeMessage, toMs } from '@/api/normalize';

describe('wire normalization', () => {
  it('reads times as ms numbers, numeric strings or RFC 3339', () => {
    expect(toMs(1700000000000)).toBe(1700000000000);
    expect(toMs('1700000000000')).toBe(1700000000000);
    expect(toMs('2026-11-26T08:57:28.108Z')).toBe(Date.UTC(2026, 10, 26, 8, 57, 28, 108));
    expect(toMs(null)).toBeNull();
    expect(toMs('garbage')).toBeNull();
  });
  it('maps is_resolved to resolved on anomalies', () => {
    const a = normalizeAnomaly({ id: 'a', device_id: 'd', metric: 'm', detected_at: 5, severity: 'critical', description: '', is_resolved: false });
    expect(a.resolved).toBe(false);
    expect(normalizeAnomaly({ id: 'b', is_resolved: true, detected_at: 1 }).resolved).toBe(true);
    expect(normalizeAnomaly({ id: 'c', resolved: true, detected_at: 1 }).resolved).toBe(true);
  });
  it('converts device_status timestamps and drops unusable messages', () => {
    const m = normalizeMessage({ type: 'device_status', device_id: 'd', status: 'online', ts: '2026-11-26T08:57:28.108Z' });
    expect(m).toEqual({ type: 'device_status', device_id: 'd', status: 'online', ts: Date.UTC(2026, 10, 26, 8, 57, 28, 108) });
    expect(normalizeMessage({ type: 'points' })).toBeNull();
    expect(normalizeMessage({ type: 'anomaly' })).toBeNull();
    expect(normalizeMessage(42)).toBeNull();
    const an = normalizeMessage({ type: 'anomaly', anomaly: { id: 'x', detected_at: 3, is_resolved: false } });
    expect(an && an.type === 'anomaly' && an.anomaly.resolved).toBe(false);
  });
  it('reads incident and alert stream events; drops ones without an id', () => {
    const m = normalizeMessage({ type: 'incident', incident: { id: 'i', status: 'new', created_at: '2026-11-26T08:57:28.108Z', anomaly_count: '2' } });
    expect(m?.type === 'incident' && m.incident).toMatchObject({ id: 'i', created_at: Date.UTC(2026, 10, 26, 8, 57, 28, 108), anomaly_count: 2 });
    expect(normalizeMessage({ type: 'incident', incident: {} })).toBeNull();
    const a = normalizeMessage({ type: 'alert', alert: { id: 'a', status: 'sent', attempts: 1, sent_at: 5 } });
    expect(a?.type === 'alert' && a.alert).toEqual({ id: 'a', status: 'sent', attempts: 1, sent_at: 5 });
    expect(normalizeMessage({ type: 'alert' })).toBeNull();
  });
  it('fills incident defaults and leaves absent alert fields absent (events are partial)', () => {
    const i = normalizeIncident({ id: 'i', created_at: 10, anomalies: [{}, {}, {}] });
    expect(i).toMatchObject({ created_at: 10, updated_at: 10, acknowledged_at: null, anomaly_count: 3 });
    expect(Object.keys(normalizeAlert({ id: 'a', status: 'dead' }))).toEqual(['id', 'status']);
  });
});
