// Anomalies: the filtered list for the Anomalies view plus live additions from the stream.
// `available` is false when the server has no anomalies API yet (404): views show an empty state.
import { create } from 'zustand';
import { api, optional } from '@/api/client';
import { liveLoader } from '@/lib/latest';
import type { Anomaly, Incident, Severity, Verdict } from '@/api/types';

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
  /** an "incident" stream event: its anomalies show it (and are resolved with it) */
  receiveIncident: (i: Incident) => void;
  /** anomaly and incident stream events of one animation frame, in arrival order: one update */
  receiveLive: (events: LiveAnomalyEvent[]) => void;
}

/** The list holds the newest LIST_MAX anomalies of the filter (what one load reads); live
 * additions push the oldest out, and the header says "newest 500 of N". */
export const LIST_MAX = 500;

export type LiveAnomalyEvent = { anomaly: Anomaly } | { incident: Incident };

export function matchesFilter(a: Anomaly, f: AnomalyFilter): boolean {
  return (
    (!f.severity || a.severity === f.severity) &&
    (!f.resolved || String(a.resolved) === f.resolved) &&
    (!f.device_id || a.device_id === f.device_id)
  );
}

/** Whether the anomaly is in an incident that is still open (no second one may be opened). */
export const inOpenIncident = (a: Pick<Anomaly, 'incident_id' | 'incident_status'>): boolean =>
  !!a.incident_id && a.incident_status !== 'resolved';

/** The anomalies an incident event names take its id, status and title; when it is resolved
 * they are resolved too (the server resolved them with its verdict) and leave an "open" list. */
export function applyIncident(items: Anomaly[], i: Incident, f: AnomalyFilter): Anomaly[] {
  const ids = new Set(i.anomaly_ids ?? (i.anomaly_id ? [i.anomaly_id] : []));
  if (!items.some((a) => ids.has(a.id))) return items;
  const out: Anomaly[] = [];
  for (const a of items) {
    if (!ids.has(a.id)) {
      out.push(a);
      continue;
    }
    const n: Anomaly = { ...a, incident_id: i.id, incident_status: i.status, incident_title: i.title };
    if (i.status === 'resolved' && !a.resolved) Object.assign(n, { resolved: true, resolved_at: i.resolved_at, verdict: i.verdict ?? a.verdict });
    if (matchesFilter(n, f)) out.push(n);
  }
  return out;
}

/** Insert or replace by id, newest detected first. Stream events do not carry the incident:
 * a newer copy without it keeps the one known. */
export function upsertAnomaly(items: Anomaly[], a: Anomaly): Anomaly[] {
  return upsertAnomalies(items, [a]);
}

/** upsertAnomaly for many at once (later copies of an id win): one pass and one sort. */
export function upsertAnomalies(items: Anomaly[], add: Anomaly[]): Anomaly[] {
  if (add.length === 0) return items;
  const at = new Map<string, number>();
  const out = items.slice();
  for (let i = 0; i < out.length; i++) at.set(out[i].id, i);
  for (const a of add) {
    const i = at.get(a.id);
    if (i === undefined) {
      at.set(a.id, out.length);
      out.push(a);
      continue;
    }
    const prev = out[i];
    out[i] = a.incident_id === undefined ? { ...a, incident_id: prev.incident_id, incident_status: prev.incident_status, incident_title: prev.incident_title } : a;
  }
  return out.sort((x, y) => y.detected_at - x.detected_at);
}

/** Stream events applied in order to a list of the filter `f`; `added` counts the anomalies it
 * did not hold before (for the total). The newest LIST_MAX are kept. */
export function applyLive(items: Anomaly[], events: readonly LiveAnomalyEvent[], f: AnomalyFilter): { items: Anomaly[]; added: number; removed: number } {
  let list = items;
  let added = 0, removed = 0;
  let known: Set<string> | null = null;
  let run: Anomaly[] = [];
  const flushRun = () => {
    list = upsertAnomalies(list, run);
    run = [];
  };
  for (const ev of events) {
    if ('incident' in ev) {
      flushRun();
      const next = applyIncident(list, ev.incident, f);
      removed += list.length - next.length;
      if (next !== list) known = null;
      list = next;
    } else if (matchesFilter(ev.anomaly, f)) {
      known ??= new Set(list.map((a) => a.id));
      if (!known.has(ev.anomaly.id)) {
        added++;
        known.add(ev.anomaly.id);
      }
      run.push(ev.anomaly);
    }
  }
  flushRun();
  if (list.length > LIST_MAX) list = list.slice(0, LIST_MAX);
  return { items: list, added, removed };
}

// Only the latest load applies; anomalies and incident events received live while it was in
// flight are replayed, in order, onto its result.
const loader = liveLoader<LiveAnomalyEvent>((p) => useAnomalies.setState(p));

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
      limit: LIST_MAX,
    };
    return loader.run(
      () => optional(api.anomalies(q), { items: [], total: 0 }),
      (r, live) => {
        const { items } = applyLive(r.data.items, live, get().filter);
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
    get().receiveLive([{ anomaly: a }]);
  },
  receiveIncident(i) {
    get().receiveLive([{ incident: i }]);
  },
  receiveLive(events) {
    for (const e of events) loader.note(e);
    const { items, total, filter } = get();
    const r = applyLive(items, events, filter);
    if (r.items !== items) set({ items: r.items, total: Math.max(r.items.length, total + r.added - r.removed) });
  },
}));

const SEVERITIES = ['critical', 'warning', 'info'];
const STATES: Record<string, AnomalyFilter['resolved']> = { open: 'false', resolved: 'true', all: '' };

/** The filter a URL names (?severity=critical&state=open&device=<id>; what it leaves out is the
 * default), or null when it names none (the list keeps the filters last used). */
export function filterFromParams(p: URLSearchParams): AnomalyFilter | null {
  const sev = p.get('severity'), state = p.get('state'), dev = p.get('device');
  if (sev === null && state === null && dev === null) return null;
  return {
    severity: (sev && SEVERITIES.includes(sev) ? sev : '') as AnomalyFilter['severity'],
    resolved: state !== null && state in STATES ? STATES[state] : 'false',
    device_id: dev ?? '',
  };
}

export function paramsFromFilter(f: AnomalyFilter, id?: string | null): URLSearchParams {
  const p = new URLSearchParams();
  if (f.severity) p.set('severity', f.severity);
  p.set('state', Object.keys(STATES).find((k) => STATES[k] === f.resolved) ?? 'open');
  if (f.device_id) p.set('device', f.device_id);
  if (id) p.set('id', id);
  return p;
}
