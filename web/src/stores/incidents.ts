// Incidents: the board (one list per status column, loaded in parallel with the filters), live
// updates from the stream's "incident" events, and the incident open in the detail view with its
// timeline. Pure helpers (filter matching, column placement, transitions, timeline text, error
// text) are exported for the views and the tests.
import { create } from 'zustand';
import { api, ApiError } from '@/api/client';
import { uniquePrefix } from '@/lib/ids';
import { Latest, liveLoader } from '@/lib/latest';
import { useAuth } from './auth';
import { inOpenIncident } from './anomalies';
import type { Anomaly, Incident, IncidentDetail, IncidentPatch, IncidentStatus, Severity, TimelineEvent, User } from '@/api/types';

export const STATUSES: IncidentStatus[] = ['new', 'investigating', 'resolved'];
export const STATUS_LABEL: Record<IncidentStatus, string> = { new: 'New', investigating: 'Investigating', resolved: 'Resolved' };
/** Cards fetched per column; the column says when there are more. */
export const COLUMN_LIMIT = 100;

export interface IncidentFilter {
  status: '' | IncidentStatus;
  /** '' = anyone, 'me', 'none' (unassigned) or a user id */
  assigned_to: string;
  severity: '' | Severity;
  device_id: string;
}

export interface Column {
  items: Incident[];
  total: number;
}
export type Columns = Record<IncidentStatus, Column>;

export const emptyColumns = (): Columns => ({
  new: { items: [], total: 0 },
  investigating: { items: [], total: 0 },
  resolved: { items: [], total: 0 },
});

/** Whether a live incident belongs on the board under this filter. The server's device filter
 * matches any linked anomaly's device; live rows only know the incident's own device. */
export function matchesIncidentFilter(i: Incident, f: IncidentFilter, meId?: string): boolean {
  if (f.status && i.status !== f.status) return false;
  if (f.severity && i.severity !== f.severity) return false;
  if (f.device_id && i.device_id !== f.device_id) return false;
  if (f.assigned_to === 'none') return i.assigned_to == null;
  if (f.assigned_to === 'me') return !!meId && i.assigned_to === meId;
  if (f.assigned_to) return i.assigned_to === f.assigned_to;
  return true;
}

/** Newest first (the server's order). */
function sorted(items: Incident[]): Incident[] {
  return items.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1));
}

/** Places a changed incident: out of the column it was in, into its status column if it still
 * matches; an older copy (updated_at) than the one shown is ignored. Totals follow; a column
 * already at its limit grows by one (it is only a view). */
export function placeIncident(cols: Columns, inc: Incident, matches: boolean): Columns {
  // a write's response and the stream's event for it race: never go back to an older copy
  for (const s of STATUSES) if (cols[s].items.some((x) => x.id === inc.id && x.updated_at > inc.updated_at)) return cols;
  const next = { ...cols };
  for (const s of STATUSES) {
    const c = cols[s];
    if (c.items.some((x) => x.id === inc.id)) next[s] = { items: c.items.filter((x) => x.id !== inc.id), total: Math.max(0, c.total - 1) };
  }
  if (matches && next[inc.status]) {
    const c = next[inc.status];
    next[inc.status] = { items: sorted([...c.items, inc]), total: c.total + 1 };
  }
  return next;
}

/** The moves the server allows from a status (anything else is a 409). */
export function nextStatuses(s: IncidentStatus): { to: IncidentStatus; label: string }[] {
  switch (s) {
    case 'new':
      return [{ to: 'investigating', label: 'Start investigating' }];
    case 'investigating':
      return [{ to: 'resolved', label: 'Resolve' }];
    case 'resolved':
      return [{ to: 'investigating', label: 'Reopen' }];
  }
}

/** Who can be assigned: enabled Analysts and Admins, by name. */
export function assignableUsers(users: User[]): User[] {
  return users
    .filter((u) => !u.disabled && (u.role === 'admin' || u.role === 'analyst'))
    .sort((a, b) => (a.name || a.email).localeCompare(b.name || b.email));
}

/** A readable message for a failed incident change (409 and 422 explained). */
export function incidentErrorMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 409 && e.code === 'invalid_transition')
      return `This change is no longer possible: ${e.message}. Someone else may have changed the incident; it has been reloaded.`;
    if (e.status === 409) return `Conflict: ${e.message}`;
    if (e.status === 422 && e.code === 'invalid_assignee') return `Cannot assign: ${e.message}`;
    if (e.status === 403) return 'Your role may not change incidents.';
    if (e.status === 404) return 'This incident no longer exists or is not visible to you.';
  }
  return (e as Error)?.message ?? String(e);
}

const VERDICT_TEXT: Record<string, string> = { confirmed: 'confirmed', false_positive: 'false positive' };
export const verdictText = (v: string | null | undefined): string => (v ? VERDICT_TEXT[v] ?? v : '');

/** One line of the timeline in words; `nameOf` resolves user ids (falls back to a short id). */
export function describeEvent(e: TimelineEvent, nameOf: (id: string) => string | undefined): string {
  const d = e.detail ?? {};
  const who = (id: string | null | undefined) => (id ? nameOf(id) ?? `user ${uniquePrefix(id, [])}` : 'nobody');
  switch (e.kind) {
    case 'created':
      return d.origin === 'auto' ? 'Opened automatically' : 'Opened';
    case 'anomaly_linked':
      return 'Linked an anomaly';
    case 'assigned':
      if (d.to === e.actor && !d.from) return 'Took the incident';
      return d.from ? `Reassigned from ${who(d.from)} to ${who(d.to)}` : `Assigned to ${who(d.to)}`;
    case 'unassigned':
      return d.from === e.actor ? 'Handed the incident back' : `Unassigned ${who(d.from)}`;
    case 'status_changed':
      return `Moved from ${statusLabel(d.from)} to ${statusLabel(d.to)}${d.verdict ? ` (verdict: ${verdictText(d.verdict)})` : ''}${
        d.reason === 'anomalies_resolved' ? ': its last open anomaly was resolved' : ''
      }`;
    case 'reopened':
      return `Reopened (${statusLabel(d.from)} → ${statusLabel(d.to)})`;
    case 'retitled':
      return `Renamed to “${d.title ?? ''}”`;
    case 'comment':
      return 'Commented';
    default:
      return e.kind.replace(/_/g, ' ');
  }
}

function statusLabel(s: string | null | undefined): string {
  return (s && STATUS_LABEL[s as IncidentStatus]) || s || '?';
}

/** Title proposed when opening an incident from anomalies (`label` names devices). */
export function defaultIncidentTitle(
  anomalies: Pick<Anomaly, 'device_name' | 'device_id' | 'metric' | 'description'>[],
  label: (id: string, name?: string | null) => string = (id, name) => name || uniquePrefix(id, []),
): string {
  if (anomalies.length === 0) return '';
  const a = anomalies[0];
  const dev = label(a.device_id, a.device_name);
  const devices = new Set(anomalies.map((x) => x.device_id));
  if (anomalies.length === 1) return `${dev}: ${a.description || a.metric}`.slice(0, 300);
  if (devices.size === 1) return `${dev}: ${anomalies.length} anomalies (${[...new Set(anomalies.map((x) => x.metric))].join(', ')})`.slice(0, 300);
  return `${anomalies.length} anomalies on ${devices.size} devices`;
}

export interface OpenIncidentRef {
  id: string;
  title: string;
  status: IncidentStatus;
  anomalyIds: string[];
}

/** Splits a selection into anomalies free for a new incident and the open incidents that
 * already hold the others (`known` adds what a 409 told about anomalies the list did not). */
export function incidentPlan(
  anomalies: Anomaly[],
  known: Record<string, { id: string; title: string; status: IncidentStatus }> = {},
): { free: Anomaly[]; existing: OpenIncidentRef[] } {
  const free: Anomaly[] = [];
  const byId = new Map<string, OpenIncidentRef>();
  for (const a of anomalies) {
    const k = known[a.id];
    const inc = k ?? (inOpenIncident(a) ? { id: a.incident_id!, title: a.incident_title ?? 'an open incident', status: a.incident_status! } : null);
    if (!inc) {
      free.push(a);
      continue;
    }
    const ref = byId.get(inc.id) ?? { ...inc, anomalyIds: [] };
    ref.anomalyIds.push(a.id);
    byId.set(inc.id, ref);
  }
  return { free, existing: [...byId.values()] };
}

/** "4 min", "2 h 5 min", "3 d 4 h" for durations like time to acknowledge. */
export function fmtDuration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '—';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

interface IncidentsState {
  columns: Columns;
  loading: boolean;
  loadedAt: number;
  error: string | null;
  filter: IncidentFilter;
  setFilter: (f: Partial<IncidentFilter>) => void;
  load: () => Promise<void>;
  receive: (i: Incident) => void;

  detail: IncidentDetail | null;
  detailId: string | null;
  detailLoading: boolean;
  detailError: string | null;
  open: (id: string) => Promise<void>;
  close: () => void;
  refreshDetail: () => Promise<void>;
  update: (id: string, patch: IncidentPatch) => Promise<IncidentDetail>;
  comment: (id: string, text: string) => Promise<void>;
  create: (anomalyIds: string[], title?: string) => Promise<IncidentDetail>;
}

// As in the anomalies store: only the latest load applies, and incidents received live while
// it was in flight are placed into its result.
const loader = liveLoader<Incident>((p) => useIncidents.setState(p));
const detailGen = new Latest();
const currentUserId = () => useAuth.getState().user?.id;

export const useIncidents = create<IncidentsState>((set, get) => ({
  columns: emptyColumns(),
  loading: false,
  loadedAt: 0,
  error: null,
  filter: { status: '', assigned_to: '', severity: '', device_id: '' },
  setFilter(f) {
    set({ filter: { ...get().filter, ...f } });
    void get().load();
  },
  load() {
    const f = get().filter;
    const wanted = f.status ? [f.status] : STATUSES;
    const fetch = () =>
      Promise.all(
        wanted.map((status) =>
          api.incidents({
            status,
            severity: f.severity || undefined,
            device_id: f.device_id || undefined,
            assigned_to: f.assigned_to || undefined,
            limit: COLUMN_LIMIT,
          }),
        ),
      );
    return loader.run(fetch, (res, live) => {
      let columns = emptyColumns();
      wanted.forEach((s, k) => {
        columns[s] = { items: sorted(res[k].items), total: res[k].total ?? res[k].items.length };
      });
      const cur = get();
      for (const i of live) columns = placeIncident(columns, i, matchesIncidentFilter(i, cur.filter, currentUserId()));
      set({ columns, loading: false, loadedAt: Date.now() });
    });
  },
  receive(i) {
    const s = get();
    loader.note(i);
    set({ columns: placeIncident(s.columns, i, matchesIncidentFilter(i, s.filter, currentUserId())) });
    // the open incident changed: its timeline and anomalies come only with the full record
    if (s.detailId === i.id) void get().refreshDetail();
  },

  detail: null,
  detailId: null,
  detailLoading: false,
  detailError: null,
  async open(id) {
    if (get().detailId !== id) set({ detail: null });
    set({ detailId: id, detailError: null });
    await get().refreshDetail();
  },
  close() {
    detailGen.invalidate();
    set({ detail: null, detailId: null, detailError: null, detailLoading: false });
  },
  async refreshDetail() {
    const id = get().detailId;
    if (!id) return;
    const gen = detailGen.next();
    set({ detailLoading: true });
    try {
      const d = await api.incident(id);
      if (detailGen.is(gen)) set({ detail: d, detailLoading: false, detailError: null });
    } catch (e) {
      if (detailGen.is(gen)) set({ detailLoading: false, detailError: incidentErrorMessage(e) });
    }
  },
  async update(id, patch) {
    try {
      const d = await api.updateIncident(id, patch);
      applyDetail(d);
      return d;
    } catch (e) {
      // a 409 means our copy is stale: show the current state under the message
      if (e instanceof ApiError && e.status === 409 && get().detailId === id) await get().refreshDetail();
      throw e;
    }
  },
  async comment(id, text) {
    await api.commentIncident(id, text);
    if (get().detailId === id) await get().refreshDetail();
  },
  async create(anomalyIds, title) {
    const d = await api.createIncident({ anomaly_ids: anomalyIds, title: title || undefined });
    applyDetail(d);
    return d;
  },
}));

/** A full record from a write: becomes the open detail (if it is that one) and a board card. */
function applyDetail(d: IncidentDetail): void {
  const s = useIncidents.getState();
  const { anomalies: _a, timeline: _t, ...row } = d;
  void _a;
  void _t;
  useIncidents.setState({
    columns: placeIncident(s.columns, row, matchesIncidentFilter(row, s.filter, currentUserId())),
    ...(s.detailId === d.id && !(s.detail && s.detail.id === d.id && s.detail.updated_at > d.updated_at)
      ? { detail: d, detailError: null, detailLoading: false }
      : {}),
  });
  detailGen.invalidate(); // a refresh started before this write must not overwrite it
}
