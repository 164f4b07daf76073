// Anomalies: the filtered list for the Anomalies view plus live additions from the stream.
// `available` is false when the server has no anomalies API yet (404): views show an empty state.
import { create } from 'zustand';
import { api, optional } from '@/api/client';
import { liveLoader } from '@/lib/latest';
import type { Anomaly, Severity, Verdict } from '@/api/types';

export interface AnomalyFilter {
  severity: '' | Severity;
  resolved: '' | 'true' | 'false';
  device_id: string;
}

interface AnomaliesState {
  items: Anomaly[];
  total: number;
  available: boolean;
  loading: boolean;
  error: string | null;
  filter: AnomalyFilter;
  setFilter: (f: Partial<AnomalyFilter>) => void;
  load: () => Promise<void>;
  resolve: (id: string, verdict: Verdict) => Promise<void>;
  receive: (a: Anomaly) => void;
}

export function matchesFilter(a: Anomaly, f: AnomalyFilter): boolean {
  return (
    (!f.severity || a.severity === f.severity) &&
    (!f.resolved || String(a.resolved) === f.resolved) &&
    (!f.device_id || a.device_id === f.device_id)
  );
}

/** Insert or replace by id, newest detected first. */
export function upsertAnomaly(items: Anomaly[], a: Anomaly): Anomaly[] {
  const rest = items.filter((x) => x.id !== a.id);
  rest.push(a);
  return rest.sort((x, y) => y.detected_at - x.detected_at);
}

// Only the latest load applies; anomalies received live while it was in flight join its result.
const loader = liveLoader<Anomaly>((p) => useAnomalies.setState(p));

export const useAnomalies = create<AnomaliesState>((set, get) => ({
  items: [],
  total: 0,
  available: true,
  loading: false,
  error: null,
  filter: { severity: '', resolved: 'false', device_id: '' },
  setFilter(f) {
    set({ filter: { ...get().filter, ...f } });
    void get().load();
  },
  load() {
    const f = get().filter;
    const q = {
      severity: f.severity || undefined,
      resolved: f.resolved === '' ? undefined : f.resolved === 'true',
      device_id: f.device_id || undefined,
      limit: 500,
    };
    return loader.run(
      () => optional(api.anomalies(q), { items: [], total: 0 }),
      (r, live) => {
        let items = r.data.items;
        for (const a of live) if (matchesFilter(a, get().filter)) items = upsertAnomaly(items, a);
        set({ items, total: Math.max(r.data.total ?? 0, items.length), available: r.available, loading: false });
      },
    );
  },
  async resolve(id, verdict) {
    const updated = await api.resolveAnomaly(id, verdict);
    const f = get().filter;
    const cur = get().items.find((a) => a.id === id);
    const a: Anomaly = updated && updated.id ? updated : { ...(cur as Anomaly), resolved: true, verdict };
    set({ items: matchesFilter(a, f) ? upsertAnomaly(get().items, a) : get().items.filter((x) => x.id !== id) });
  },
  receive(a) {
    loader.note(a);
    if (!matchesFilter(a, get().filter)) return;
    const had = get().items.some((x) => x.id === a.id);
    set({ items: upsertAnomaly(get().items, a), total: get().total + (had ? 0 : 1) });
  },
}));
