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
  it('handles 10,000 devices quickly', () => {
    const many = Array.from({ length: 10000 }, (_, i) => dev(i));
    const t0 = performance.now();
    const v = selectVisible(many, { q: 'dev-99', type: '', status: '' }, { key: 'location', order: 'desc' });
    expect(v.length).toBeGreaterThan(0);
    expect(performance.now() - t0).toBeLessThan(500);
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
  it('loads every page of devices and records an error on failure', async () => {
    const page1 = Array.from({ length: 10000 }, (_, i) => dev(i));
    const page2 = [dev(10001)];
    const fetchMock = vi.fn(async (url: string) => {
      const off = new URL(url, 'http://x').searchParams.get('offset');
      const items = off === '0' ? page1 : page2;
      return new Response(JSON.stringify({ items, total: 10001 }), { status: 200 });
    });
    vi.stubGlobal('fetch', fetchMock);
    await useDevices.getState().load(true);
    expect(fetchMock).toHaveBeenCalledTimes(2);
    expect(useDevices.getState().items).toHaveLength(10001);
    expect(useDevices.getState().index.get('id-10001')).toBe(10000);

    vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ error: 'internal', message: 'boom' }), { status: 500 })));
    await useDevices.getState().load(true);
    expect(useDevices.getState().error).toBe('boom');
    vi.unstubAllGlobals();
  });
});
