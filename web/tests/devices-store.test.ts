import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Device } from '@/api/types';
import { deviceTypes, selectVisible, useDevices } from '@/stores/devices';

const dev = (i: number, over: Partial<Device> = {}): Device => ({
  id: `id-${String(i).padStart(5, '0')}`, owner_id: 'o', name: `dev-${i}`, type: i % 2 ? 'thermo' : 'meter',
  location: `site ${i % 3}`, firmware: '1', attributes: {}, status: i % 4 === 0 ? 'online' : 'offline',
  last_seen: i * 1000, created_at: i, updated_at: i, ...over,
});

describe('selectVisible', () => {
  const items = Array.from({ length: 20 }, (_, i) => dev(i + 1));
  it('sorts names naturally (dev-2 before dev-10)', () => {
    const v = selectVisible(items, { q: '', type: '', status: '' }, { key: 'name', order: 'asc' });
    expect(v.slice(0, 3).map((d) => d.name)).toEqual(['dev-1', 'dev-2', 'dev-3']);
    expect(v[v.length - 1].name).toBe('dev-20');
  });
  it('filters by text, type and status together', () => {
    const v = selectVisible(items, { q: 'site 1', type: 'thermo', status: '' }, { key: 'name', order: 'asc' });
    expect(v.every((d) => d.location === 'site 1' && d.type === 'thermo')).toBe(true);
    expect(v.length).toBeGreaterThan(0);
    const on = selectVisible(items, { q: '', type: '', status: 'online' }, { key: 'name', order: 'asc' });
    expect(on.map((d) => d.name)).toEqual(['dev-4', 'dev-8', 'dev-12', 'dev-16', 'dev-20']);
  });
  it('sorts by last seen descending with never-seen devices last', () => {
    const withNever = [...items, dev(99, { last_seen: null })];
    const v = selectVisible(withNever, { q: '', type: '', status: '' }, { key: 'last_seen', order: 'desc' });
    expect(v[0].name).toBe('dev-20');
    expect(v[v.length - 1].name).toBe('dev-99');
  });
  it('matches a device id prefix', () => {
    expect(selectVisible(items, { q: 'id-00007', type: '', status: '' }, { key: 'name', order: 'asc' }).map((d) => d.name)).toEqual(['dev-7']);
  });
  it('filters and sorts 10,000 devices (times: bench/dashboard.mjs, no timing here)', () => {
    const many = Array.from({ length: 10000 }, (_, i) => dev(i));
    const v = selectVisible(many, { q: 'dev-99', type: '', status: '' }, { key: 'location', order: 'desc' });
    expect(v.map((d) => d.name)).toEqual(
      many.filter((d) => d.name.includes('dev-99')).sort((a, b) => b.location!.localeCompare(a.location!) || a.name.localeCompare(b.name, undefined, { numeric: true })).map((d) => d.name),
    );
  });
  it('lists distinct device types', () => {
    expect(deviceTypes(items)).toEqual(['meter', 'thermo']);
  });
});

describe('useDevices store', () => {
  beforeEach(() => {
    useDevices.setState({ items: [], index: new Map(), loadedAt: 0, loading: false, error: null, sort: { key: 'name', order: 'asc' } });
    vi.restoreAllMocks();
  });
  it('applies a live status change to the right device only', () => {
    useDevices.getState().setItems([dev(1), dev(2)]);
    useDevices.getState().applyStatus('id-00002', 'online', 5000);
    const [a, b] = useDevices.getState().items;
    expect(a.status).toBe('offline');
    expect(b.status).toBe('online');
    expect(b.last_seen).toBe(5000);
  });
  it('applies the touches of many publishing devices in one update per second', () => {
    vi.useFakeTimers();
    try {
      useDevices.getState().setItems([dev(1), dev(2), dev(3)]);
      let updates = 0;
      const unsub = useDevices.subscribe(() => updates++);
      useDevices.getState().touch('id-00001', 10_000);
      useDevices.getState().touch('id-00003', 11_000);
      useDevices.getState().touch('id-00001', 12_000);
      useDevices.getState().touch('nope', 12_000);
      expect(updates).toBe(0);
      vi.advanceTimersByTime(1000);
      unsub();
      expect(updates).toBe(1);
      const [a, b, c] = useDevices.getState().items;
      expect([a.status, a.last_seen]).toEqual(['online', 12_000]);
      expect(b.status).toBe('offline');
      expect([c.status, c.last_seen]).toEqual(['online', 11_000]);
    } finally {
      vi.useRealTimers();
    }
  });
  it('ignores status for unknown devices', () => {
    useDevices.getState().setItems([dev(1)]);
    const before = useDevices.getState().items;
    useDevices.getState().applyStatus('nope', 'online', 1);
    expect(useDevices.getState().items).toBe(before);
  });
  it('toggles sort order when the same column is chosen twice', () => {
    useDevices.getState().setSort('type');
    expect(useDevices.getState().sort).toEqual({ key: 'type', order: 'asc' });
    useDevices.getState().setSort('type');
    expect(useDevices.getState().sort).toEqual({ key: 'type', order: 'desc' });
    useDevices.getState().setSort('name');
    expect(useDevices.getState().sort).toEqual({ key: 'name', order: 'asc' });
  });
  it('shows a first small page at once, then loads every page (each device once) and records an error on failure', async () => {
    const fleet = Array.from({ length: 10201 }, (_, i) => dev(i));
    const states: { n: number; partial: boolean; total: number }[] = [];
    const unsub = useDevices.subscribe((st) => states.push({ n: st.items.length, partial: st.partial, total: st.total }));
    const fetchMock = vi.fn(async (url: string) => {
      const q = new URL(url, 'http://x').searchParams;
      const off = Number(q.get('offset')), lim = Number(q.get('limit'));
      // a device registered between two pages shifts the next page by one
      const items = off === 0 ? fleet.slice(0, lim) : fleet.slice(off - 1, off - 1 + lim);
      return new Response(JSON.stringify({ items, total: fleet.length }), { status: 200 });
    });
    vi.stubGlobal('fetch', fetchMock);
    await useDevices.getState().load(true);
    unsub();
    const limits = fetchMock.mock.calls.map(([u]) => Number(new URL(u as string, 'http://x').searchParams.get('limit')));
    expect(limits).toEqual([200, 10000, 10000]);
    // the first page was shown on its own, marked partial with the server's total
    expect(states).toContainEqual({ n: 200, partial: true, total: 10201 });
    const st = useDevices.getState();
    expect(st.partial).toBe(false);
    expect(st.items).toHaveLength(10201);
    expect(new Set(st.items.map((d) => d.id)).size).toBe(10201);
    expect(st.index.get('id-10200')).toBe(10200);

    vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ error: 'internal', message: 'boom' }), { status: 500 })));
    await useDevices.getState().load(true);
    expect(useDevices.getState().error).toBe('boom');
    vi.unstubAllGlobals();
  });
});
