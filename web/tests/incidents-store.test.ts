import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '@/api/client';
import type { Incident, IncidentDetail, TimelineEvent, User } from '@/api/types';
import { useAuth } from '@/stores/auth';
import {
  assignableUsers, defaultIncidentTitle, describeEvent, emptyColumns, fmtDuration, incidentErrorMessage, matchesIncidentFilter,
  nextStatuses, placeIncident, useIncidents, type IncidentFilter,
} from '@/stores/incidents';

afterEach(() => vi.unstubAllGlobals());

const inc = (id: string, over: Partial<Incident> = {}): Incident => ({
  id, title: `incident ${id}`, status: 'new', severity: 'warning', device_id: 'd1', device_name: 'boiler', anomaly_id: 'a1',
  assigned_to: null, assignee_name: null, origin: 'manual', created_by: 'u1', created_at: 100, updated_at: 100,
  acknowledged_at: null, resolved_at: null, verdict: null, time_to_acknowledge_ms: null, time_to_resolve_ms: null, anomaly_count: 1,
  ...over,
});
const detail = (id: string, over: Partial<IncidentDetail> = {}): IncidentDetail => ({ ...inc(id), anomalies: [], timeline: [], ...over });
const ev = (kind: string, detail: Record<string, string | null>, actor = 'u1'): TimelineEvent => ({ id: 1, ts: 1, actor, kind, detail });
const anyFilter: IncidentFilter = { status: '', assigned_to: '', severity: '', device_id: '' };
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status });

describe('incident filter and board placement', () => {
  it('matches status, severity, device and the assignee forms (me, none, an id)', () => {
    const i = inc('1', { status: 'investigating', severity: 'critical', assigned_to: 'u7' });
    expect(matchesIncidentFilter(i, anyFilter)).toBe(true);
    expect(matchesIncidentFilter(i, { ...anyFilter, status: 'new' })).toBe(false);
    expect(matchesIncidentFilter(i, { ...anyFilter, severity: 'warning' })).toBe(false);
    expect(matchesIncidentFilter(i, { ...anyFilter, device_id: 'd2' })).toBe(false);
    expect(matchesIncidentFilter(i, { ...anyFilter, assigned_to: 'me' }, 'u7')).toBe(true);
    expect(matchesIncidentFilter(i, { ...anyFilter, assigned_to: 'me' }, 'u8')).toBe(false);
    expect(matchesIncidentFilter(i, { ...anyFilter, assigned_to: 'none' })).toBe(false);
    expect(matchesIncidentFilter(inc('2'), { ...anyFilter, assigned_to: 'none' })).toBe(true);
    expect(matchesIncidentFilter(i, { ...anyFilter, assigned_to: 'u7' })).toBe(true);
  });
  it('moves a card between columns and keeps the totals', () => {
    let cols = emptyColumns();
    cols = placeIncident(cols, inc('a', { created_at: 1 }), true);
    cols = placeIncident(cols, inc('b', { created_at: 2 }), true);
    expect(cols.new.items.map((x) => x.id)).toEqual(['b', 'a']);
    cols = placeIncident(cols, inc('a', { status: 'investigating', created_at: 1, updated_at: 200 }), true);
    expect(cols.new).toMatchObject({ total: 1 });
    expect(cols.investigating.items.map((x) => x.id)).toEqual(['a']);
    expect(cols.investigating.total).toBe(1);
  });
  it('drops a card that no longer matches the filter', () => {
    let cols = placeIncident(emptyColumns(), inc('a'), true);
    cols = placeIncident(cols, inc('a', { assigned_to: 'someone', updated_at: 300 }), false);
    expect(cols.new).toEqual({ items: [], total: 0 });
  });
  it('ignores an older copy (a write response racing the stream event)', () => {
    const cols = placeIncident(emptyColumns(), inc('a', { status: 'investigating', updated_at: 500 }), true);
    const after = placeIncident(cols, inc('a', { status: 'new', updated_at: 400 }), true);
    expect(after).toBe(cols);
  });
});

describe('incident workflow helpers', () => {
  it('offers exactly the moves the server allows', () => {
    expect(nextStatuses('new').map((n) => n.to)).toEqual(['investigating']);
    expect(nextStatuses('investigating').map((n) => n.to)).toEqual(['resolved']);
    expect(nextStatuses('resolved')).toEqual([{ to: 'investigating', label: 'Reopen' }]);
  });
  it('assigns only enabled analysts and admins, by name', () => {
    const u = (id: string, role: User['role'], name: string, disabled = false): User => ({ id, role, name, email: `${id}@x`, disabled });
    const list = assignableUsers([u('1', 'device_owner', 'Olive'), u('2', 'analyst', 'Zed'), u('3', 'admin', 'Amy'), u('4', 'analyst', 'Bo', true)]);
    expect(list.map((x) => x.name)).toEqual(['Amy', 'Zed']);
  });
  it('explains a 409 transition, a 422 assignee and a 403', () => {
    expect(incidentErrorMessage(new ApiError(409, 'invalid_transition', 'an incident cannot go from resolved to resolved'))).toMatch(
      /no longer possible: an incident cannot go from resolved to resolved.*reloaded/,
    );
    expect(incidentErrorMessage(new ApiError(422, 'invalid_assignee', 'only Analysts and Admins can be assigned'))).toBe(
      'Cannot assign: only Analysts and Admins can be assigned',
    );
    expect(incidentErrorMessage(new ApiError(403, 'forbidden', 'x'))).toBe('Your role may not change incidents.');
    expect(incidentErrorMessage(new Error('boom'))).toBe('boom');
  });
  it('describes every timeline entry in words', () => {
    const names = (id: string) => ({ u1: 'Ann', u2: 'Bob' })[id];
    expect(describeEvent(ev('created', { status: 'new', origin: 'auto' }, 'system'), names)).toBe('Opened automatically');
    expect(describeEvent(ev('assigned', { from: null, to: 'u2' }), names)).toBe('Assigned to Bob');
    expect(describeEvent(ev('assigned', { from: 'u2', to: 'u1' }), names)).toBe('Reassigned from Bob to Ann');
    expect(describeEvent(ev('assigned', { from: null, to: 'u1' }), names)).toBe('Took the incident');
    expect(describeEvent(ev('unassigned', { from: 'u1', to: null }), names)).toBe('Handed the incident back');
    expect(describeEvent(ev('unassigned', { from: 'u9abcdefgh', to: null }), names)).toBe('Unassigned user u9abcdef…');
    expect(describeEvent(ev('status_changed', { from: 'investigating', to: 'resolved', verdict: 'false_positive' }), names)).toBe(
      'Moved from Investigating to Resolved (verdict: false positive)',
    );
    expect(describeEvent(ev('reopened', { from: 'resolved', to: 'investigating' }), names)).toBe('Reopened (Resolved → Investigating)');
    expect(describeEvent(ev('retitled', { title: 'Valve' }), names)).toBe('Renamed to “Valve”');
    expect(describeEvent(ev('comment', { text: 'hi' }), names)).toBe('Commented');
    expect(describeEvent(ev('something_new', {}), names)).toBe('something new');
  });
  it('proposes a title from the selected anomalies', () => {
    const a = (device_id: string, metric: string, device_name?: string) => ({ device_id, metric, device_name, description: `${metric} high` });
    expect(defaultIncidentTitle([a('d1', 'temp', 'boiler')])).toBe('boiler: temp high');
    expect(defaultIncidentTitle([a('d1', 'temp', 'boiler'), a('d1', 'hum', 'boiler'), a('d1', 'temp', 'boiler')])).toBe('boiler: 3 anomalies (temp, hum)');
    expect(defaultIncidentTitle([a('d1', 'temp', 'boiler'), a('d2', 'temp')])).toBe('2 anomalies on 2 devices');
    expect(defaultIncidentTitle([])).toBe('');
  });
  it('formats durations', () => {
    expect(fmtDuration(null)).toBe('—');
    expect(fmtDuration(4200)).toBe('4 s');
    expect(fmtDuration(125_000)).toBe('2 min');
    expect(fmtDuration(2 * 3600_000 + 5 * 60_000)).toBe('2 h 5 min');
    expect(fmtDuration(3 * 86400_000 + 4 * 3600_000)).toBe('3 d 4 h');
  });
});

describe('incidents store', () => {
  beforeEach(() => {
    useAuth.setState({ status: 'authenticated', user: { id: 'me', name: 'Me', email: 'me@x', role: 'analyst' }, expired: false });
    useIncidents.setState({ columns: emptyColumns(), loading: false, filter: { ...anyFilter }, detailId: null, detail: null });
  });
  it('loads one list per status with the filters, in parallel', async () => {
    const f = vi.fn(async (url: string) => {
      const status = new URL(url, 'http://x').searchParams.get('status')!;
      return json({ items: status === 'new' ? [inc('n1'), inc('n2', { created_at: 200 })] : [], total: status === 'new' ? 2 : 7 });
    });
    vi.stubGlobal('fetch', f);
    useIncidents.setState({ filter: { ...anyFilter, severity: 'critical', assigned_to: 'me' } });
    await useIncidents.getState().load();
    const urls = f.mock.calls.map((c) => c[0] as string);
    expect(urls).toHaveLength(3);
    for (const s of ['new', 'investigating', 'resolved']) expect(urls).toContain(`/api/v1/incidents?status=${s}&severity=critical&assigned_to=me&limit=100`);
    const { columns } = useIncidents.getState();
    expect(columns.new.items.map((x) => x.id)).toEqual(['n2', 'n1']);
    expect(columns.resolved.total).toBe(7);
  });
  it('asks only for the chosen status', async () => {
    const f = vi.fn(async (_url: string, _init?: RequestInit) => json({ items: [], total: 0 }));
    vi.stubGlobal('fetch', f);
    useIncidents.setState({ filter: { ...anyFilter, status: 'resolved' } });
    await useIncidents.getState().load();
    expect(f).toHaveBeenCalledTimes(1);
    expect(f.mock.calls[0][0]).toBe('/api/v1/incidents?status=resolved&limit=100');
  });
  it('keeps an incident that changed live while the board was loading', async () => {
    const releases: ((r: Response) => void)[] = [];
    vi.stubGlobal('fetch', vi.fn(() => new Promise<Response>((r) => releases.push(r))));
    const p = useIncidents.getState().load();
    useIncidents.getState().receive(inc('live', { status: 'investigating', created_at: 999 }));
    for (const r of releases) r(json({ items: [], total: 0 }));
    await p;
    expect(useIncidents.getState().columns.investigating.items.map((x) => x.id)).toEqual(['live']);
  });
  it('refreshes the open incident when the stream says it changed', async () => {
    const f = vi.fn(async (_url: string, _init?: RequestInit) => json(detail('x', { status: 'investigating', timeline: [ev('comment', { text: 'new' })] })));
    vi.stubGlobal('fetch', f);
    useIncidents.setState({ detailId: 'x', detail: detail('x') });
    useIncidents.getState().receive(inc('x', { status: 'investigating', updated_at: 300 }));
    await vi.waitFor(() => expect(useIncidents.getState().detail?.timeline).toHaveLength(1));
    expect(f.mock.calls[0][0]).toBe('/api/v1/incidents/x');
  });
  it('reloads the incident after a 409 and passes the error on', async () => {
    const f = vi
      .fn()
      .mockResolvedValueOnce(json({ error: 'invalid_transition', message: 'an incident cannot go from resolved to investigating' }, 409))
      .mockResolvedValueOnce(json(detail('x', { status: 'investigating', updated_at: 900 })));
    vi.stubGlobal('fetch', f);
    useIncidents.setState({ detailId: 'x', detail: detail('x', { status: 'resolved' }) });
    const err = await useIncidents.getState().update('x', { status: 'investigating' }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(409);
    expect(f.mock.calls[0][1]).toMatchObject({ method: 'PATCH', body: JSON.stringify({ status: 'investigating' }) });
    expect(useIncidents.getState().detail?.status).toBe('investigating');
  });
  it('creates an incident from anomalies and puts it on the board', async () => {
    const f = vi.fn(async (_url: string, _init?: RequestInit) => json(detail('new1', { anomaly_count: 2 }), 201));
    vi.stubGlobal('fetch', f);
    const d = await useIncidents.getState().create(['a1', 'a2'], 'Valve');
    expect(d.id).toBe('new1');
    expect(JSON.parse((f.mock.calls[0] as unknown as [string, RequestInit])[1].body as string)).toEqual({ anomaly_ids: ['a1', 'a2'], title: 'Valve' });
    expect(useIncidents.getState().columns.new.items.map((x) => x.id)).toEqual(['new1']);
    expect(useIncidents.getState().columns.new.items[0]).not.toHaveProperty('timeline');
  });
});
