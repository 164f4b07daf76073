import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Alert } from '@/api/types';
import { attemptResult, deliveryState, isStale, mergeAlert, useAlerts, type AlertFilter } from '@/stores/alerts';

afterEach(() => vi.unstubAllGlobals());

const alert = (id: string, over: Partial<Alert> = {}): Alert => ({
  id, anomaly_id: 'an', user_id: null, method: 'webhook', recipient: 'https://hook', status: 'pending', attempts: 0,
  created_at: 100, sent_at: null, due_at: 100, updated_at: 100, severity: 'critical', kind: 'anomaly', count: 1,
  device_id: 'd1', last_error: null, ...over,
});
const none: AlertFilter = { status: '', method: '', device_id: '' };
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status });

describe('delivery status in words', () => {
  it('tells queued, sending, delivered, retrying and dead letters apart', () => {
    expect(deliveryState(alert('a'))).toMatchObject({ label: 'Queued', tone: 'secondary' });
    expect(deliveryState(alert('a', { status: 'sending', attempts: 1 }))).toMatchObject({ label: 'Sending', hint: 'attempt 2' });
    expect(deliveryState(alert('a', { status: 'sent', attempts: 1 }))).toMatchObject({ label: 'Delivered', tone: 'success', hint: 'first attempt' });
    expect(deliveryState(alert('a', { status: 'sent', attempts: 3 })).hint).toBe('after 3 attempts');
    expect(deliveryState(alert('a', { status: 'pending', attempts: 2, last_error: 'timeout' }))).toMatchObject({
      label: 'Retrying', tone: 'warning', hint: '2 failed attempts: timeout',
    });
    expect(deliveryState(alert('a', { status: 'dead', attempts: 1, last_error: 'ssrf: loopback' }))).toMatchObject({
      label: 'Failed', tone: 'destructive', hint: 'dead letter: ssrf: loopback',
    });
  });
  it('shows an attempt result once, with the code only when the error lacks it', () => {
    expect(attemptResult({ ok: true, code: 200, error: null })).toBe('ok (200)');
    expect(attemptResult({ ok: false, code: 400, error: 'http status 400' })).toBe('http status 400');
    expect(attemptResult({ ok: false, code: 535, error: 'login denied' })).toBe('535: login denied');
    expect(attemptResult({ ok: false, code: null, error: null })).toBe('failed');
  });
});

describe('merging alert events', () => {
  it('merges an event carrying a subset of the fields into the known row', () => {
    const items = [alert('a', { channel_id: 'c1' })];
    const r = mergeAlert(items, { id: 'a', status: 'sent', attempts: 1, sent_at: 150 }, none);
    expect(r.added).toBe(false);
    expect(r.items[0]).toMatchObject({ status: 'sent', attempts: 1, sent_at: 150, channel_id: 'c1', recipient: 'https://hook' });
  });
  it('adds a new alert on top when it matches the filter, not otherwise', () => {
    const items = [alert('old', { created_at: 50 })];
    const r = mergeAlert(items, { ...alert('new', { created_at: 200 }) }, none);
    expect(r).toMatchObject({ added: true });
    expect(r.items.map((x) => x.id)).toEqual(['new', 'old']);
    expect(mergeAlert(items, alert('x', { method: 'sms' }), { ...none, method: 'email' })).toEqual({ items, added: false });
  });
  it('removes a row that no longer matches (e.g. a dead letter once delivered)', () => {
    const r = mergeAlert([alert('a', { status: 'dead' })], { id: 'a', status: 'pending' }, { ...none, status: 'dead' });
    expect(r.items).toEqual([]);
  });
  it('never turns a delivered alert back into a pending one (a retry response arriving late)', () => {
    expect(isStale(alert('a', { status: 'sent' }), { id: 'a', status: 'pending' })).toBe(true);
    expect(isStale(alert('a', { updated_at: 300 }), { id: 'a', status: 'dead', updated_at: 200 })).toBe(true);
    expect(isStale(alert('a', { status: 'dead' }), { id: 'a', status: 'pending' })).toBe(false);
    const items = [alert('a', { status: 'sent', sent_at: 150 })];
    expect(mergeAlert(items, { id: 'a', status: 'pending', attempts: 0 }, none).items).toBe(items);
  });
  it('keeps the payload of a response out of the list', () => {
    const r = mergeAlert([], { ...alert('a'), payload: { summary: 'x' } } as unknown as Alert, none);
    expect(r.items[0]).not.toHaveProperty('payload');
  });
});

describe('alerts store', () => {
  beforeEach(() => useAlerts.setState({ items: [], total: 0, loading: false, filter: { ...none }, selectedId: null, detail: null }));
  it('loads the history with the filters', async () => {
    const f = vi.fn(async (_url: string, _init?: RequestInit) => json({ items: [alert('a')], total: 31 }));
    vi.stubGlobal('fetch', f);
    useAlerts.getState().setFilter({ status: 'dead', method: 'email' });
    await vi.waitFor(() => expect(useAlerts.getState().loading).toBe(false));
    expect(f.mock.calls[0][0]).toBe('/api/v1/alerts?status=dead&method=email&limit=200');
    expect(useAlerts.getState()).toMatchObject({ total: 31 });
  });
  it('counts live additions and keeps those that came during a load', async () => {
    let release!: (r: Response) => void;
    vi.stubGlobal('fetch', vi.fn(() => new Promise<Response>((r) => (release = r))));
    const p = useAlerts.getState().load();
    useAlerts.getState().receive(alert('live', { created_at: 500 }));
    release(json({ items: [alert('old')], total: 1 }));
    await p;
    expect(useAlerts.getState().items.map((x) => x.id)).toEqual(['live', 'old']);
    expect(useAlerts.getState().total).toBe(2);
  });
  it('retries a dead letter and reloads its attempts', async () => {
    useAlerts.setState({ items: [alert('a', { status: 'dead', attempts: 1 })], selectedId: 'a' });
    const f = vi
      .fn()
      .mockResolvedValueOnce(json(alert('a', { status: 'pending', attempts: 0, updated_at: 400 })))
      .mockResolvedValueOnce(json({ ...alert('a', { status: 'pending' }), attempts_log: [{ attempt: 1, started_at: 1, duration_ms: 2, ok: false, code: 400, error: 'x' }], anomaly_ids: ['an'] }));
    vi.stubGlobal('fetch', f);
    await useAlerts.getState().retry('a');
    expect(f.mock.calls[0][0]).toBe('/api/v1/alerts/a/retry');
    expect((f.mock.calls[0][1] as RequestInit).method).toBe('POST');
    expect(useAlerts.getState().items[0].status).toBe('pending');
    expect(useAlerts.getState().detail?.attempts_log).toHaveLength(1);
  });
});
