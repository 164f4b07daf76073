import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, ApiError, buildQuery, optional } from '@/api/client';
import { backoffDelay } from '@/api/stream';
import { useAuth, can } from '@/stores/auth';
import { matchesFilter, upsertAnomaly, useAnomalies } from '@/stores/anomalies';
import type { Anomaly } from '@/api/types';

afterEach(() => vi.unstubAllGlobals());

let f2: ReturnType<typeof respond>;
const respond = (status: number, body?: unknown) =>
  vi.fn(async () => new Response(body === undefined ? null : JSON.stringify(body), { status }));

describe('api client', () => {
  it('builds query strings without empty values', () => {
    expect(buildQuery({ a: 1, b: '', c: undefined, d: 'x y', e: false })).toBe('?a=1&d=x+y&e=false');
    expect(buildQuery({})).toBe('');
  });
  it('sends the cookie (same-origin) and never an Authorization header', async () => {
    const f = respond(200, { items: [], total: 0 });
    vi.stubGlobal('fetch', f);
    await api.devices({ q: 'boiler', limit: 5 });
    const [url, init] = f.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/devices?q=boiler&limit=5');
    expect(init.credentials).toBe('same-origin');
    expect(JSON.stringify(init.headers ?? {})).not.toMatch(/authorization/i);
  });
  it('turns error bodies into ApiError with code and message', async () => {
    vi.stubGlobal('fetch', respond(403, { error: 'forbidden', message: 'not yours' }));
    const err = await api.device('x').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(403);
    expect(err.code).toBe('forbidden');
    expect(err.message).toBe('not yours');
  });
  it('expires the session on a 401 from a normal call, but not from login', async () => {
    useAuth.setState({ status: 'authenticated', user: { id: '1', name: 'a', email: 'a@x', role: 'admin' }, expired: false });
    vi.stubGlobal('fetch', respond(401, { error: 'unauthorized', message: 'bad credentials' }));
    await api.login('a@x', 'wrong').catch(() => {});
    expect(useAuth.getState().status).toBe('authenticated');
    await api.devices().catch(() => {});
    expect(useAuth.getState().status).toBe('anonymous');
    expect(useAuth.getState().expired).toBe(true);
  });
  it('treats a 404 from an optional endpoint as "not available"', async () => {
    vi.stubGlobal('fetch', respond(404, { error: 'not_found', message: 'no route' }));
    const r = await optional(api.anomalies(), { items: [] });
    expect(r).toEqual({ data: { items: [] }, available: false });
    vi.stubGlobal('fetch', respond(500, { error: 'internal', message: 'x' }));
    await expect(optional(api.anomalies(), { items: [] })).rejects.toBeInstanceOf(ApiError);
  });
  it('sends incident filters and changes as the API expects', async () => {
    const f = respond(200, { items: [{ id: 'i', created_at: 1, anomaly_count: 1 }], total: 1 });
    vi.stubGlobal('fetch', f);
    const r = await api.incidents({ status: 'open', assigned_to: 'none', device_id: 'd 1', limit: 5 });
    expect((f.mock.calls[0] as unknown as [string])[0]).toBe('/api/v1/incidents?status=open&assigned_to=none&device_id=d+1&limit=5');
    expect(r.items[0].updated_at).toBe(1);
    vi.stubGlobal('fetch', (f2 = respond(200, { id: 'i', created_at: 1, anomalies: [], timeline: [] })));
    await api.updateIncident('i/1', { status: 'resolved', verdict: 'false_positive' });
    const [url, init] = f2.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/incidents/i%2F1');
    expect(init.method).toBe('PATCH');
    expect(JSON.parse(init.body as string)).toEqual({ status: 'resolved', verdict: 'false_positive' });
  });
  it('links one anomaly to an incident', async () => {
    const f = respond(200, { id: 'i', created_at: 1, anomalies: [{ id: 'a' }], timeline: [] });
    vi.stubGlobal('fetch', f);
    const d = await api.linkAnomaly('i', 'a');
    const [url, init] = f.mock.calls[0] as unknown as [string, RequestInit];
    expect([url, init.method, init.body]).toEqual(['/api/v1/incidents/i/anomalies', 'POST', JSON.stringify({ anomaly_id: 'a' })]);
    expect(d.anomaly_count).toBe(1);
  });
  it('replaces own contacts with only the fields the API takes', async () => {
    const f = respond(200, { items: [] });
    vi.stubGlobal('fetch', f);
    await api.putContacts([{ id: 'x', created_at: 1, kind: 'sms', address: '+15551234567', min_severity: 'critical', enabled: false }]);
    const [url, init] = f.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/me/contacts');
    expect(init.method).toBe('PUT');
    expect(JSON.parse(init.body as string)).toEqual({ contacts: [{ kind: 'sms', address: '+15551234567', min_severity: 'critical', enabled: false }] });
  });
  it('reports network failures as status 0', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch'); }));
    const err = await api.me().catch((e) => e);
    expect(err.status).toBe(0);
  });
});

describe('auth store', () => {
  it('logs in and out', async () => {
    vi.stubGlobal('fetch', respond(200, { token: 't', expires_at: 1, user: { id: '2', name: 'b', email: 'b@x', role: 'analyst' } }));
    await useAuth.getState().login('b@x', 'pw');
    expect(useAuth.getState().user?.role).toBe('analyst');
    vi.stubGlobal('fetch', respond(204));
    await useAuth.getState().logout();
    expect(useAuth.getState().status).toBe('anonymous');
    expect(useAuth.getState().expired).toBe(false);
  });
  it('hides admin and anomaly work from device owners', () => {
    expect(can('device_owner', 'admin')).toBe(false);
    expect(can('device_owner', 'work_anomalies')).toBe(false);
    expect(can('analyst', 'work_anomalies')).toBe(true);
    expect(can('analyst', 'admin')).toBe(false);
    expect(can('admin', 'admin')).toBe(true);
    expect(can('analyst', 'work_incidents')).toBe(true);
    expect(can('device_owner', 'work_incidents')).toBe(false);
    expect(can('analyst', 'alert_admin')).toBe(false);
    expect(can('admin', 'alert_admin')).toBe(true);
    expect(can(undefined, 'metrics')).toBe(false);
  });
});

describe('stream backoff', () => {
  it('grows exponentially to a 15 s cap with jitter', () => {
    expect(backoffDelay(0, () => 0.5)).toBe(500);
    expect(backoffDelay(3, () => 0.5)).toBe(4000);
    expect(backoffDelay(20, () => 0.5)).toBe(15000);
    expect(backoffDelay(2, () => 0)).toBe(1500);
    expect(backoffDelay(2, () => 1)).toBe(2500);
  });
});

describe('anomalies store', () => {
  const a = (id: string, detected_at: number, over: Partial<Anomaly> = {}): Anomaly => ({
    id, device_id: 'd', metric: 'm', detected_at, severity: 'warning', description: '', resolved: false, ...over,
  });
  it('keeps newest first and replaces by id', () => {
    let items = upsertAnomaly([], a('1', 10));
    items = upsertAnomaly(items, a('2', 20));
    items = upsertAnomaly(items, a('1', 10, { severity: 'critical' }));
    expect(items.map((x) => x.id)).toEqual(['2', '1']);
    expect(items[1].severity).toBe('critical');
  });
  it('adds live anomalies only when they match the filter', () => {
    useAnomalies.setState({ items: [], total: 0, filter: { severity: 'critical', resolved: 'false', device_id: '' } });
    useAnomalies.getState().receive(a('w', 1));
    expect(useAnomalies.getState().items).toHaveLength(0);
    useAnomalies.getState().receive(a('c', 2, { severity: 'critical' }));
    expect(useAnomalies.getState().items.map((x) => x.id)).toEqual(['c']);
    expect(useAnomalies.getState().total).toBe(1);
    expect(matchesFilter(a('r', 1, { resolved: true, severity: 'critical' }), useAnomalies.getState().filter)).toBe(false);
  });
  it('shows "not available" when the anomalies API is missing', async () => {
    vi.stubGlobal('fetch', respond(404, { error: 'not_found', message: 'no route' }));
    await useAnomalies.getState().load();
    expect(useAnomalies.getState().available).toBe(false);
    expect(useAnomalies.getState().error).toBeNull();
  });
  it('keeps an anomaly that arrived live while a slower list request was in flight', async () => {
    useAnomalies.setState({ items: [], total: 0, loading: false, filter: { severity: '', resolved: 'false', device_id: '' } });
    let release!: (r: Response) => void;
    vi.stubGlobal('fetch', vi.fn(() => new Promise<Response>((r) => (release = r))));
    const p = useAnomalies.getState().load();
    useAnomalies.getState().receive(a('live', 50));
    release(new Response(JSON.stringify({ items: [a('old', 10)], total: 1 }), { status: 200 }));
    await p;
    expect(useAnomalies.getState().items.map((x) => x.id)).toEqual(['live', 'old']);
  });
  it('removes a resolved anomaly from the "open" list', async () => {
    useAnomalies.setState({ items: [a('x', 1)], filter: { severity: '', resolved: 'false', device_id: '' } });
    vi.stubGlobal('fetch', respond(200, a('x', 1, { resolved: true, verdict: 'false_positive' })));
    await useAnomalies.getState().resolve('x', 'false_positive');
    expect(useAnomalies.getState().items).toHaveLength(0);
  });
});
