// Alert history: the outbox rows (one per message and recipient) with their delivery status,
// filtered on the server, updated live from the stream's "alert" events (created, and every
// status change while the worker retries), plus the alert open in the detail panel with its
// delivery attempts. Retry (Admin) and acknowledge (Analyst, Admin) update the row in place.
import { create } from 'zustand';
import { api } from '@/api/client';
import { errorText, Latest, liveLoader } from '@/lib/latest';
import type { Alert, AlertDetail, AlertEvent, AlertStatus } from '@/api/types';

export interface AlertFilter {
  status: '' | AlertStatus;
  method: string;
  device_id: string;
}

export const HISTORY_LIMIT = 200;

type Tone = 'success' | 'warning' | 'destructive' | 'secondary';

/** What the delivery status means for a person: a label, a tone for the badge, a hint. */
export function deliveryState(a: Pick<Alert, 'status' | 'attempts' | 'last_error'>): { label: string; tone: Tone; hint: string } {
  switch (a.status) {
    case 'sent':
      return { label: 'Delivered', tone: 'success', hint: a.attempts > 1 ? `after ${a.attempts} attempts` : 'first attempt' };
    case 'sending':
      return { label: 'Sending', tone: 'secondary', hint: `attempt ${a.attempts + 1}` };
    case 'pending':
      return a.attempts > 0
        ? { label: 'Retrying', tone: 'warning', hint: `${a.attempts} failed attempt${a.attempts === 1 ? '' : 's'}${a.last_error ? `: ${a.last_error}` : ''}` }
        : { label: 'Queued', tone: 'secondary', hint: 'waiting to be sent' };
    case 'dead':
      return { label: 'Failed', tone: 'destructive', hint: a.last_error ? `dead letter: ${a.last_error}` : 'dead letter' };
    default:
      return { label: String(a.status), tone: 'secondary', hint: '' };
  }
}

/** "ok (200)", "http status 400", "503: timeout" — the code only when the error does not say it. */
export function attemptResult(t: { ok: boolean; code: number | null; error: string | null }): string {
  if (t.ok) return t.code ? `ok (${t.code})` : 'ok';
  const err = t.error || 'failed';
  return t.code && !err.includes(String(t.code)) ? `${t.code}: ${err}` : err;
}

export function matchesAlertFilter(a: AlertEvent, f: AlertFilter): boolean {
  return (!f.status || a.status === f.status) && (!f.method || a.method === f.method) && (!f.device_id || a.device_id === f.device_id);
}

const DEFAULTS: Omit<Alert, 'id'> = {
  anomaly_id: null, user_id: null, method: '', recipient: '', status: 'pending', attempts: 0, created_at: 0,
  sent_at: null, due_at: null, severity: 'info', kind: 'anomaly', count: 1, device_id: null, last_error: null,
};

/** Whether `next` (a stream event or a response) is older than the row shown: an HTTP response
 * and the stream's later events race. "sent" is final; otherwise updated_at decides when both
 * have it (stream events do not carry it, and they arrive in order among themselves). */
export function isStale(cur: Alert, next: AlertEvent): boolean {
  if (cur.status === 'sent' && next.status !== undefined && next.status !== 'sent') return true;
  return cur.updated_at != null && next.updated_at != null && next.updated_at < cur.updated_at;
}

/** Applies a stream event or a response: merges into the known row (events carry a subset of
 * the fields), or adds a new row when it matches the filter; a row that no longer matches
 * leaves; a stale copy is ignored. Newest first. */
export function mergeAlert(items: Alert[], ev: AlertEvent, f: AlertFilter): { items: Alert[]; added: boolean } {
  const i = items.findIndex((x) => x.id === ev.id);
  if (i >= 0 && isStale(items[i], ev)) return { items, added: false };
  const merged: Alert = { ...(i >= 0 ? items[i] : DEFAULTS), ...stripUndefined(ev), id: ev.id };
  const keep = matchesAlertFilter(merged, f);
  if (i >= 0) {
    const next = items.slice();
    if (keep) next[i] = merged;
    else next.splice(i, 1);
    return { items: next, added: false };
  }
  if (!keep) return { items, added: false };
  return { items: [merged, ...items].sort((a, b) => b.created_at - a.created_at), added: true };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  // `payload` (in responses of retry/ack) belongs to the detail, not the list
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'payload')) as Partial<T>;
}

interface AlertsState {
  items: Alert[];
  total: number;
  loading: boolean;
  error: string | null;
  filter: AlertFilter;
  setFilter: (f: Partial<AlertFilter>) => void;
  load: () => Promise<void>;
  receive: (ev: AlertEvent) => void;
  retry: (id: string) => Promise<void>;
  ack: (id: string) => Promise<void>;

  selectedId: string | null;
  detail: AlertDetail | null;
  detailError: string | null;
  select: (id: string | null) => Promise<void>;
  refreshDetail: () => Promise<void>;
}

// Only the latest load applies; events received while it was in flight are merged into it.
const loader = liveLoader<AlertEvent>((p) => useAlerts.setState(p));
const detailGen = new Latest();
let refreshTimer: ReturnType<typeof setTimeout> | null = null;

export const useAlerts = create<AlertsState>((set, get) => ({
  items: [],
  total: 0,
  loading: false,
  error: null,
  filter: { status: '', method: '', device_id: '' },
  setFilter(f) {
    set({ filter: { ...get().filter, ...f } });
    void get().load();
  },
  load() {
    const f = get().filter;
    const q = { status: f.status || undefined, method: f.method || undefined, device_id: f.device_id || undefined, limit: HISTORY_LIMIT };
    return loader.run(
      () => api.alerts(q),
      (r, live) => {
        let items = r.items;
        let total = r.total ?? items.length;
        for (const ev of live) {
          const m = mergeAlert(items, ev, get().filter);
          items = m.items;
          if (m.added) total++;
        }
        set({ items, total, loading: false });
      },
    );
  },
  receive(ev) {
    const s = get();
    loader.note(ev);
    const m = mergeAlert(s.items, ev, s.filter);
    set({ items: m.items, total: s.total + (m.added ? 1 : 0) });
    if (s.selectedId === ev.id) {
      // attempts come only with the full record; coalesce bursts of status changes
      if (refreshTimer) clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => {
        refreshTimer = null;
        void get().refreshDetail();
      }, 150);
    }
  },
  async retry(id) {
    get().receive(await api.retryAlert(id));
    await get().refreshDetail();
  },
  async ack(id) {
    get().receive(await api.ackAlert(id));
    await get().refreshDetail();
  },

  selectedId: null,
  detail: null,
  detailError: null,
  async select(id) {
    set({ selectedId: id, detail: get().detail?.id === id ? get().detail : null, detailError: null });
    if (id) await get().refreshDetail();
  },
  async refreshDetail() {
    const id = get().selectedId;
    if (!id) return;
    const gen = detailGen.next();
    try {
      const d = await api.alert(id);
      if (detailGen.is(gen) && get().selectedId === id) set({ detail: d, detailError: null });
    } catch (e) {
      if (detailGen.is(gen)) set({ detailError: errorText(e) });
    }
  },
}));
