// The device fleet. Loads every visible device once (pages of 10,000), then searches, filters
// and sorts in memory so the virtualized list stays instant at 10k+ rows. Live status changes
// from the stream are applied in place (O(1) via an id index).
import { useMemo } from 'react';
import { create } from 'zustand';
import { api } from '@/api/client';
import type { Device, DeviceInput } from '@/api/types';
import { buildFleetIndex, matchFleet, sortDevices, type FleetIndex } from '@/lib/fleetIndex';
import { sortIds, uniquePrefix } from '@/lib/ids';

export type SortKey = 'name' | 'type' | 'location' | 'status' | 'last_seen' | 'created_at';
export interface DeviceFilter {
  q: string;
  type: string; // '' = any
  status: '' | 'online' | 'offline';
}
export interface DeviceSort {
  key: SortKey;
  order: 'asc' | 'desc';
}

const FIRST_PAGE = 200;
const PAGE = 10000;

interface DevicesState {
  items: Device[];
  index: Map<string, number>;
  loading: boolean;
  error: string | null;
  loadedAt: number;
  /** devices on the server (the count while `partial`) */
  total: number;
  /** only the first page is in `items` yet; the rest is loading */
  partial: boolean;
  filter: DeviceFilter;
  sort: DeviceSort;
  load: (force?: boolean) => Promise<void>;
  setItems: (items: Device[]) => void;
  setFilter: (f: Partial<DeviceFilter>) => void;
  setSort: (key: SortKey) => void;
  applyStatus: (id: string, status: string, ts: number) => void;
  /** device_status events of one animation frame: one new fleet array */
  applyStatuses: (events: readonly { id: string; status: string; ts: number }[]) => void;
  touch: (id: string, ts: number) => void;
  create: (d: DeviceInput) => Promise<Device>;
  update: (id: string, d: Partial<DeviceInput>) => Promise<Device>;
  remove: (id: string) => Promise<void>;
}

const TOUCH_FLUSH_MS = 1000;
const touched = new Map<string, number>();
let touchTimer: ReturnType<typeof setTimeout> | undefined;

/** Applies the queued touches (devices seen publishing) in one update. */
export function flushTouches(): void {
  if (touchTimer !== undefined) clearTimeout(touchTimer);
  touchTimer = undefined;
  if (touched.size === 0) return;
  const { items, index } = useDevices.getState();
  let next: Device[] | null = null;
  for (const [id, ts] of touched) {
    const i = index.get(id);
    if (i === undefined) continue;
    const d = items[i];
    if (d.status === 'online' && (d.last_seen ?? 0) >= ts) continue;
    next ??= items.slice();
    next[i] = { ...d, status: 'online', last_seen: Math.max(d.last_seen ?? 0, ts) };
  }
  touched.clear();
  if (next) useDevices.setState({ items: next });
}

function indexOf(items: Device[]): Map<string, number> {
  return new Map(items.map((d, i) => [d.id, i]));
}

export const useDevices = create<DevicesState>((set, get) => ({
  items: [],
  index: new Map(),
  loading: false,
  error: null,
  loadedAt: 0,
  total: 0,
  partial: false,
  filter: { q: '', type: '', status: '' },
  sort: { key: 'name', order: 'asc' },

  async load(force = false) {
    const s = get();
    if (s.loading) return;
    if (!force && s.loadedAt && Date.now() - s.loadedAt < 30_000) return;
    set({ loading: true, error: null });
    try {
      // a first small page shows rows at once; the rest follows in big pages, applied in one go
      // (every change of `items` re-sorts and re-indexes the whole fleet)
      const first = await api.devices({ limit: FIRST_PAGE, offset: 0, sort: 'name', order: 'asc' });
      const all: Device[] = first.items;
      const total = first.total ?? all.length;
      if (all.length >= FIRST_PAGE && all.length < total) set({ items: all, index: indexOf(all), loadedAt: Date.now(), total, partial: true });
      if (all.length >= FIRST_PAGE) {
        for (let offset = all.length; ; offset += PAGE) {
          const r = await api.devices({ limit: PAGE, offset, sort: 'name', order: 'asc' });
          all.push(...r.items);
          if (r.items.length < PAGE || (r.total !== undefined && all.length >= r.total)) break;
        }
      }
      // a device registered while paging shifts later pages by one: keep each id once
      const seen = new Set<string>();
      const items = all.filter((d) => !seen.has(d.id) && !!seen.add(d.id));
      set({ items, index: indexOf(items), loading: false, loadedAt: Date.now(), total: items.length, partial: false });
    } catch (e) {
      set({ loading: false, partial: false, error: (e as Error).message });
    }
  },
  setItems(items) {
    set({ items, index: indexOf(items), loadedAt: Date.now(), total: items.length, partial: false });
  },
  setFilter(f) {
    set({ filter: { ...get().filter, ...f } });
  },
  setSort(key) {
    const cur = get().sort;
    set({ sort: cur.key === key ? { key, order: cur.order === 'asc' ? 'desc' : 'asc' } : { key, order: 'asc' } });
  },
  applyStatus(id, status, ts) {
    get().applyStatuses([{ id, status, ts }]);
  },
  applyStatuses(events) {
    const { items, index } = get();
    let next: Device[] | null = null;
    for (const { id, status, ts } of events) {
      const i = index.get(id);
      if (i === undefined) continue;
      next ??= items.slice();
      const d = next[i];
      next[i] = { ...d, status, last_seen: Math.max(d.last_seen ?? 0, ts) || d.last_seen };
    }
    if (next) set({ items: next });
  },
  touch(id, ts) {
    const { items, index } = get();
    const i = index.get(id);
    if (i === undefined) return;
    const d = items[i];
    if (d.status === 'online' && (d.last_seen ?? 0) >= ts - 5000) return; // avoid churn
    // points arrive from many devices at once: one new fleet array per second, not per device
    // (each new array re-sorts and re-indexes 100,000 rows)
    touched.set(id, Math.max(touched.get(id) ?? 0, ts));
    touchTimer ??= setTimeout(flushTouches, TOUCH_FLUSH_MS);
  },
  async create(d) {
    const dev = await api.createDevice(d);
    const items = [...get().items, dev];
    set({ items, index: indexOf(items) });
    return dev;
  },
  async update(id, d) {
    const dev = await api.updateDevice(id, d);
    const { items, index } = get();
    const i = index.get(id);
    if (i !== undefined) {
      const next = items.slice();
      next[i] = dev;
      set({ items: next });
    }
    return dev;
  },
  async remove(id) {
    await api.deleteDevice(id);
    const items = get().items.filter((d) => d.id !== id);
    set({ items, index: indexOf(items) });
  },
}));

/** Display order and search index of one items array, per sort (rebuilt when the fleet changes). */
const views = new WeakMap<Device[], Map<string, { sorted: Device[]; ix?: FleetIndex }>>();
function viewOf(items: Device[], sort: DeviceSort): { sorted: Device[]; ix?: FleetIndex } {
  let m = views.get(items);
  if (!m) views.set(items, (m = new Map()));
  const k = `${sort.key}:${sort.order}`;
  let v = m.get(k);
  if (!v) m.set(k, (v = { sorted: sortDevices(items, sort.key, sort.order) }));
  return v;
}

/** Builds the search index of a fleet and sort ahead of the first query (call when idle). */
export function prepareSearch(items: Device[], sort: DeviceSort): void {
  const v = viewOf(items, sort);
  v.ix ??= buildFleetIndex(v.sorted);
}

/**
 * Filtered and sorted view of the fleet (pure; cached per items array and sort, so a new query
 * over 100,000 devices is a few string scans: lib/fleetIndex.ts).
 */
export function selectVisible(items: Device[], filter: DeviceFilter, sort: DeviceSort): Device[] {
  const v = viewOf(items, sort);
  const q = filter.q.trim();
  if (!q && !filter.type && !filter.status) return v.sorted;
  const hit = q ? matchFleet((v.ix ??= buildFleetIndex(v.sorted)), q) : null;
  const out: Device[] = [];
  for (let i = 0; i < v.sorted.length; i++) {
    const d = v.sorted[i];
    if (hit && !hit[i]) continue;
    if (filter.type && d.type !== filter.type) continue;
    if (filter.status && (filter.status === 'online') !== (d.status === 'online')) continue;
    out.push(d);
  }
  return out;
}

export function deviceTypes(items: Device[]): string[] {
  return [...new Set(items.map((d) => d.type).filter(Boolean))].sort();
}

/** Ids of the fleet, sorted; cached per index (which changes only when devices come or go). */
const sortedCache = new WeakMap<Map<string, number>, string[]>();
function sortedIdsOf(index: Map<string, number>): string[] {
  let s = sortedCache.get(index);
  if (!s) sortedCache.set(index, (s = sortIds(index.keys())));
  return s;
}

export type DeviceLabel = (id: string | null | undefined, name?: string | null) => string;

/** How a device is shown everywhere: the name given (e.g. by the API row), else its name in the
 * fleet, else enough of its id to be unique among the known devices. */
export function deviceLabeler(items: Device[], index: Map<string, number>): DeviceLabel {
  return (id, name) => {
    if (name) return name;
    if (!id) return 'no device';
    const i = index.get(id);
    return (i !== undefined && items[i]?.name) || uniquePrefix(id, sortedIdsOf(index));
  };
}

/** deviceLabeler over the store (re-renders when the fleet changes). */
export function useDeviceLabel(): DeviceLabel {
  const items = useDevices((s) => s.items);
  const index = useDevices((s) => s.index);
  return useMemo(() => deviceLabeler(items, index), [items, index]);
}
