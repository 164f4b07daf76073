// The device fleet. Loads every visible device once (pages of 10,000), then searches, filters
// and sorts in memory so the virtualized list stays instant at 10k+ rows. Live status changes
// from the stream are applied in place (O(1) via an id index).
import { useMemo } from 'react';
import { create } from 'zustand';
import { api } from '@/api/client';
import type { Device, DeviceInput } from '@/api/types';
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

const PAGE = 10000;

interface DevicesState {
  items: Device[];
  index: Map<string, number>;
  loading: boolean;
  error: string | null;
  loadedAt: number;
  filter: DeviceFilter;
  sort: DeviceSort;
  load: (force?: boolean) => Promise<void>;
  setItems: (items: Device[]) => void;
  setFilter: (f: Partial<DeviceFilter>) => void;
  setSort: (key: SortKey) => void;
  applyStatus: (id: string, status: string, ts: number) => void;
  touch: (id: string, ts: number) => void;
  create: (d: DeviceInput) => Promise<Device>;
  update: (id: string, d: Partial<DeviceInput>) => Promise<Device>;
  remove: (id: string) => Promise<void>;
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
  filter: { q: '', type: '', status: '' },
  sort: { key: 'name', order: 'asc' },

  async load(force = false) {
    const s = get();
    if (s.loading) return;
    if (!force && s.loadedAt && Date.now() - s.loadedAt < 30_000) return;
    set({ loading: true, error: null });
    try {
      const all: Device[] = [];
      for (let offset = 0; ; offset += PAGE) {
        const r = await api.devices({ limit: PAGE, offset, sort: 'name', order: 'asc' });
        all.push(...r.items);
        if (r.items.length < PAGE || (r.total !== undefined && all.length >= r.total)) break;
      }
      set({ items: all, index: indexOf(all), loading: false, loadedAt: Date.now() });
    } catch (e) {
      set({ loading: false, error: (e as Error).message });
    }
  },
  setItems(items) {
    set({ items, index: indexOf(items), loadedAt: Date.now() });
  },
  setFilter(f) {
    set({ filter: { ...get().filter, ...f } });
  },
  setSort(key) {
    const cur = get().sort;
    set({ sort: cur.key === key ? { key, order: cur.order === 'asc' ? 'desc' : 'asc' } : { key, order: 'asc' } });
  },
  applyStatus(id, status, ts) {
    const { items, index } = get();
    const i = index.get(id);
    if (i === undefined) return;
    const next = items.slice();
    next[i] = { ...items[i], status, last_seen: Math.max(items[i].last_seen ?? 0, ts) || items[i].last_seen };
    set({ items: next });
  },
  touch(id, ts) {
    const { items, index } = get();
    const i = index.get(id);
    if (i === undefined) return;
    const d = items[i];
    if (d.status === 'online' && (d.last_seen ?? 0) >= ts - 5000) return; // avoid churn
    const next = items.slice();
    next[i] = { ...d, status: 'online', last_seen: Math.max(d.last_seen ?? 0, ts) };
    set({ items: next });
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

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Filtered and sorted view of the fleet (pure; memoize on its inputs). */
export function selectVisible(items: Device[], filter: DeviceFilter, sort: DeviceSort): Device[] {
  const q = filter.q.trim().toLowerCase();
  const out = items.filter(
    (d) =>
      (!filter.type || d.type === filter.type) &&
      (!filter.status || (filter.status === 'online') === (d.status === 'online')) &&
      (!q ||
        d.name.toLowerCase().includes(q) ||
        d.id.toLowerCase().startsWith(q) ||
        (d.location ?? '').toLowerCase().includes(q) ||
        (d.type ?? '').toLowerCase().includes(q)),
  );
  const dir = sort.order === 'asc' ? 1 : -1;
  const k = sort.key;
  out.sort((a, b) => {
    let c: number;
    if (k === 'last_seen' || k === 'created_at') c = (a[k] ?? -1) - (b[k] ?? -1);
    else c = collator.compare(String(a[k] ?? ''), String(b[k] ?? ''));
    return c !== 0 ? c * dir : collator.compare(a.name, b.name);
  });
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
