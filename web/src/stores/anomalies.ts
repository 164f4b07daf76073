// Anomalies: the filtered list for the Anomalies view plus live additions from the stream.
// `available` is false when the server has no anomalies API yet (404): views show an empty state.
import { create } from 'zustand';
import { api, optional } from '@/api/client';
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

// Guards against a slow list response overwriting newer state: only the latest load applies,
// and anomalies received live while it was in flight are merged into its result.
let loadGen = 0;
let liveDuringLoad: Anomaly[] = [];

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
  async load() {
    const f = get().filter;
    const gen = ++loadGen;
    liveDuringLoad = [];
    set({ loading: true, error: null });
    try {
      const r = await optional(
        api.anomalies({
          severity: f.severity || undefined,
          resolved: f.resolved === '' ? undefined : f.resolved === 'true',
          device_id: f.device_id || undefined,
          limit: 500,
        }),
        { items: [], total: 0 },
      );
      if (gen !== loadGen) return;
      let items = r.data.items;
      for (const a of liveDuringLoad) if (matchesFilter(a, get().filter)) items = upsertAnomaly(items, a);
      liveDuringLoad = [];
      set({ items, total: Math.max(r.data.total ?? 0, items.length), available: r.available, loading: false });
    } catch (e) {
      if (gen === loadGen) set({ loading: false, error: (e as Error).message });
    }
  },
  async resolve(id, verdict) {
    const updated = await api.resolveAnomaly(id, verdict);
    const f = get().filter;
    const cur = get().items.find((a) => a.id === id);
    const a: Anomaly = updated && updated.id ? updated : { ...(cur as Anomaly), resolved: true, verdict };
    set({ items: matchesFilter(a, f) ? upsertAnomaly(get().items, a) : get().items.filter((x) => x.id !== id) });
  },
  receive(a) {
    if (get().loading) liveDuringLoad.push(a);
    if (!matchesFilter(a, get().filter)) return;
    const had = get().items.some((x) => x.id === a.id);
    set({ items: upsertAnomaly(get().items, a), total: get().total + (had ? 0 : 1) });
  },
}));
