import { describe, expect, it } from 'vitest';
import type { Anomaly, Incident } from '@/api/types';
import { applyIncident, applyLive, filterFromParams, inOpenIncident, LIST_MAX, paramsFromFilter, upsertAnomaly, useAnomalies, type AnomalyFilter } from '@/stores/anomalies';
import { incidentPlan } from '@/stores/incidents';

const an = (id: string, over: Partial<Anomaly> = {}): Anomaly => ({
  id, device_id: 'd1', metric: 'temp', detected_at: 1, severity: 'critical', description: 'x', resolved: false, ...over,
});
const inc = (over: Partial<Incident> = {}): Incident => ({
  id: 'i1', title: 'boiler hot', status: 'new', severity: 'critical', device_id: 'd1', device_name: 'b', anomaly_id: 'a1',
  assigned_to: null, assignee_name: null, origin: 'auto', created_by: null, created_at: 1, updated_at: 1, acknowledged_at: null,
  resolved_at: null, verdict: null, time_to_acknowledge_ms: null, time_to_resolve_ms: null, anomaly_count: 2, ...over,
});
const open: AnomalyFilter = { severity: '', resolved: 'false', device_id: '' };

describe('anomalies and their incident', () => {
  it('an incident event marks the anomalies it names', () => {
    const items = [an('a1'), an('a2'), an('a3')];
    const out = applyIncident(items, inc({ anomaly_ids: ['a1', 'a2'] }), open);
    expect(out.map((a) => [a.id, a.incident_id ?? null, a.incident_status ?? null])).toEqual([['a1', 'i1', 'new'], ['a2', 'i1', 'new'], ['a3', null, null]]);
    expect(inOpenIncident(out[0])).toBe(true);
    expect(applyIncident(items, inc({ anomaly_ids: ['zz'] }), open)).toBe(items);
  });
  it('a later stream copy of an anomaly (no incident fields) keeps its incident', () => {
    const items = applyIncident([an('a1')], inc({ anomaly_ids: ['a1'] }), open);
    const out = upsertAnomaly(items, an('a1', { updated_at: 5 }));
    expect(out[0]).toMatchObject({ updated_at: 5, incident_id: 'i1', incident_status: 'new' });
  });
  it('a resolved incident resolves its anomalies, which leave a list of open ones', () => {
    const items = [an('a1', { incident_id: 'i1', incident_status: 'new' }), an('a2')];
    const out = applyIncident(items, inc({ status: 'resolved', verdict: 'false_positive', resolved_at: 9, anomaly_ids: ['a1'] }), open);
    expect(out.map((a) => a.id)).toEqual(['a2']);
    const all = applyIncident(items, inc({ status: 'resolved', verdict: 'false_positive', resolved_at: 9, anomaly_ids: ['a1'] }), { ...open, resolved: '' });
    expect(all[0]).toMatchObject({ resolved: true, verdict: 'false_positive', resolved_at: 9, incident_status: 'resolved' });
    expect(inOpenIncident(all[0])).toBe(false);
  });
  it('plans a new incident only for anomalies in no open incident', () => {
    const a = [an('a1', { incident_id: 'i1', incident_status: 'investigating', incident_title: 'boiler hot' }), an('a2'), an('a3', { incident_id: 'i0', incident_status: 'resolved' })];
    const p = incidentPlan(a);
    expect(p.free.map((x) => x.id)).toEqual(['a2', 'a3']);
    expect(p.existing).toEqual([{ id: 'i1', title: 'boiler hot', status: 'investigating', anomalyIds: ['a1'] }]);
    // what a 409 told about an anomaly the list did not know was taken
    const q = incidentPlan([an('a2')], { a2: { id: 'i9', title: 'opened meanwhile', status: 'new' } });
    expect(q.free).toEqual([]);
    expect(q.existing[0]).toMatchObject({ id: 'i9', anomalyIds: ['a2'] });
  });
});

describe('anomaly filters in the URL', () => {
  it('reads the filter a link names, defaults for the rest, nothing when none', () => {
    expect(filterFromParams(new URLSearchParams('severity=critical&state=open'))).toEqual({ severity: 'critical', resolved: 'false', device_id: '' });
    expect(filterFromParams(new URLSearchParams('state=all&device=d7'))).toEqual({ severity: '', resolved: '', device_id: 'd7' });
    expect(filterFromParams(new URLSearchParams('severity=bogus'))).toEqual({ severity: '', resolved: 'false', device_id: '' });
    expect(filterFromParams(new URLSearchParams('id=a1'))).toBeNull();
  });
  it('round-trips', () => {
    const f: AnomalyFilter = { severity: 'warning', resolved: 'true', device_id: 'd2' };
    expect(paramsFromFilter(f, 'a9').toString()).toBe('severity=warning&state=resolved&device=d2&id=a9');
    expect(filterFromParams(paramsFromFilter(f))).toEqual(f);
  });
});

describe('anomalies store races', () => {
  it('an incident event that arrives while the list loads still marks its anomaly', async () => {
    let release!: (r: Response) => void;
    const { vi } = await import('vitest');
    vi.stubGlobal('fetch', vi.fn(() => new Promise<Response>((r) => (release = r))));
    useAnomalies.setState({ items: [], filter: open });
    const p = useAnomalies.getState().load();
    useAnomalies.getState().receive(an('a9'));
    useAnomalies.getState().receiveIncident(inc({ id: 'i9', anomaly_ids: ['a9'] }));
    release(new Response(JSON.stringify({ items: [], total: 0 }), { status: 200 }));
    await p;
    expect(useAnomalies.getState().items.map((a) => [a.id, a.incident_id])).toEqual([['a9', 'i9']]);
    vi.unstubAllGlobals();
  });
});

describe('live anomalies, a frame at a time', () => {
  it('applies a frame of events in order, with one sort, counting what is new', () => {
    const items = [an('a2', { detected_at: 2 }), an('a1', { detected_at: 1 })];
    const r = applyLive(items, [{ anomaly: an('a3', { detected_at: 3 }) }, { incident: inc({ anomaly_ids: ['a3'] }) }, { anomaly: an('a3', { detected_at: 3, updated_at: 7 }) }, { anomaly: an('a1', { detected_at: 1, updated_at: 8 }) }], open);
    expect(r.items.map((a) => a.id)).toEqual(['a3', 'a2', 'a1']);
    expect(r.added).toBe(1);
    // the incident seen before the later copy of a3 stays on it; a1 replaced in place
    expect(r.items[0]).toMatchObject({ incident_id: 'i1', updated_at: 7 });
    expect(r.items[2]).toMatchObject({ updated_at: 8 });
  });
  it('keeps the newest LIST_MAX, leaves a list unchanged when nothing matches', () => {
    const items = Array.from({ length: LIST_MAX }, (_, i) => an(`o${i}`, { detected_at: 1000 - i }));
    const burst = Array.from({ length: 50 }, (_, i) => ({ anomaly: an(`n${i}`, { detected_at: 5000 + i }) }));
    const r = applyLive(items, burst, open);
    expect(r.items.length).toBe(LIST_MAX);
    expect(r.added).toBe(50);
    expect(r.items[0].id).toBe('n49');
    expect(r.items.at(-1)!.id).toBe(`o${LIST_MAX - 51}`);
    expect(applyLive(items, [{ anomaly: an('x', { resolved: true }) }], open).items).toBe(items);
  });
  it('a store update per frame: the total follows additions and resolutions', () => {
    useAnomalies.setState({ items: [an('a1', { incident_id: 'i1', incident_status: 'new' })], total: 10, filter: open });
    let updates = 0;
    const off = useAnomalies.subscribe(() => updates++);
    useAnomalies.getState().receiveLive([{ anomaly: an('a2', { detected_at: 5 }) }, { anomaly: an('a3', { detected_at: 6 }) }, { incident: inc({ status: 'resolved', anomaly_ids: ['a1'] }) }]);
    off();
    expect(updates).toBe(1);
    expect(useAnomalies.getState().items.map((a) => a.id)).toEqual(['a3', 'a2']);
    expect(useAnomalies.getState().total).toBe(11);
  });
});
