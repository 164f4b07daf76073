// The one typed API client. Requests go to the same origin with the HttpOnly session cookie
// (credentials: 'same-origin'); the token from login is never stored. A 401 from any call
// except login reports "session expired" through onUnauthorized (the auth store listens).
import type {
  Alert, AlertChannel, AlertDetail, AlertPolicy, AlertSettings, Anomaly, ApiKey, AuditRow, AuditVerify,
  ChannelInput, Contact, DataResponse, Device, DeviceEvent, DeviceInput, Incident, IncidentDetail,
  IncidentPatch, IncidentStatus, ListResponse, LoginResponse, NewApiKey, PolicyInput, Role, Rule, RuleInput,
  Settings, Severity, TimelineEvent, User, Verdict, Report, ReportDocument, ReportFilters, ReportFormat, ReportKind,
  ReportSchedule, ExportRecord, ExportWhat,
} from './types';
import { normalizeAlert, normalizeAnomaly, normalizeIncident, normalizeRule } from './normalize';

export class ApiError extends Error {
  /** body: the error's JSON (some carry more than error/message, e.g. incident_id on a 409) */
  constructor(public status: number, public code: string, message: string, public body?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiError';
  }
  get notFound(): boolean {
    return this.status === 404;
  }
}

type Query = Record<string, string | number | boolean | undefined | null>;

let unauthorizedHandler: (() => void) | null = null;
export function onUnauthorized(fn: (() => void) | null): void {
  unauthorizedHandler = fn;
}

/** Reachability: false when a request could not reach the server, true when one got an answer. */
let networkHandler: ((reached: boolean) => void) | null = null;
export function onNetwork(fn: ((reached: boolean) => void) | null): void {
  networkHandler = fn;
}

export function buildQuery(q?: Query): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

async function request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}${buildQuery(query)}`, {
      method,
      credentials: 'same-origin',
      headers: body !== undefined ? { 'Content-Type': 'application/json' } : undefined,
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    networkHandler?.(false);
    throw new ApiError(0, 'network', `Cannot reach the server (${(e as Error).message})`);
  }
  networkHandler?.(true);
  if (res.status === 401 && path !== '/auth/login' && path !== '/auth/me') unauthorizedHandler?.();
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = undefined;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      if (!res.ok) throw new ApiError(res.status, 'http_error', text.slice(0, 200));
      throw new ApiError(res.status, 'bad_json', 'The server sent an unreadable response');
    }
  }
  if (!res.ok) {
    const j = (json ?? {}) as { error?: string; message?: string };
    throw new ApiError(res.status, j.error ?? 'http_error', j.message ?? `HTTP ${res.status}`, j);
  }
  return json as T;
}

export interface DeviceQuery {
  q?: string;
  /** contains (default): q anywhere in name, location or firmware, or the id; prefix: the start
   * of the name (an index range on the server, fast at 100,000 devices), or the id */
  match?: 'contains' | 'prefix';
  type?: string;
  status?: 'online' | 'offline';
  sort?: string;
  order?: 'asc' | 'desc';
  limit?: number;
  offset?: number;
}

export interface DataQuery {
  metric?: string;
  from?: string | number;
  to?: string | number;
  limit?: number;
  step?: 'raw' | '1m' | '5m' | '1h' | '1d' | number;
}

export interface EventQuery {
  category?: 'status' | 'security';
  kind?: string;
  device_id?: string;
  from?: string | number;
  to?: string | number;
  limit?: number;
}

export interface AnomalyQuery {
  device_id?: string;
  severity?: string;
  resolved?: boolean;
  from?: string | number;
  to?: string | number;
  limit?: number;
  offset?: number;
}

export interface IncidentQuery {
  status?: IncidentStatus | 'open';
  /** a user id, "me" or "none" */
  assigned_to?: string;
  severity?: Severity;
  device_id?: string;
  from?: string | number;
  to?: string | number;
  limit?: number;
  offset?: number;
}

export interface AlertQuery {
  status?: Alert['status'];
  method?: string;
  kind?: string;
  device_id?: string;
  anomaly_id?: string;
  from?: string | number;
  to?: string | number;
  limit?: number;
  offset?: number;
}

const enc = encodeURIComponent;

export const api = {
  login: (email: string, password: string) => request<LoginResponse>('POST', '/auth/login', { email, password }),
  logout: () => request<void>('POST', '/auth/logout'),
  me: () => request<User>('GET', '/auth/me'),

  devices: (q?: DeviceQuery) => request<ListResponse<Device>>('GET', '/devices', undefined, q as Query),
  device: (id: string) => request<Device>('GET', `/devices/${encodeURIComponent(id)}`),
  createDevice: (d: DeviceInput) => request<Device>('POST', '/devices', d),
  updateDevice: (id: string, d: Partial<DeviceInput>) => request<Device>('PATCH', `/devices/${encodeURIComponent(id)}`, d),
  deleteDevice: (id: string) => request<void>('DELETE', `/devices/${encodeURIComponent(id)}`),

  keys: (id: string) => request<ListResponse<ApiKey>>('GET', `/devices/${encodeURIComponent(id)}/keys`),
  createKey: (id: string, name?: string) =>
    request<NewApiKey>('POST', `/devices/${encodeURIComponent(id)}/keys`, name ? { name } : {}),
  revokeKey: (id: string, keyId: string) =>
    request<void>('DELETE', `/devices/${encodeURIComponent(id)}/keys/${encodeURIComponent(keyId)}`),
  rotateKey: (id: string, keyId: string) =>
    request<NewApiKey>('POST', `/devices/${encodeURIComponent(id)}/keys/${encodeURIComponent(keyId)}/rotate`),

  metrics: (id: string) => request<ListResponse<string>>('GET', `/devices/${encodeURIComponent(id)}/metrics`),
  data: (id: string, q: DataQuery) =>
    request<DataResponse>('GET', `/devices/${encodeURIComponent(id)}/data`, undefined, q as Query),
  deviceEvents: (id: string, q?: EventQuery) =>
    request<ListResponse<DeviceEvent>>('GET', `/devices/${encodeURIComponent(id)}/events`, undefined, q as Query),
  events: (q?: EventQuery) => request<ListResponse<DeviceEvent>>('GET', '/events', undefined, q as Query),

  anomalies: async (q?: AnomalyQuery): Promise<ListResponse<Anomaly>> => {
    const r = await request<ListResponse<unknown>>('GET', '/anomalies', undefined, q as Query);
    return { ...r, items: (r.items ?? []).map(normalizeAnomaly) };
  },
  anomaly: async (id: string) => normalizeAnomaly(await request<unknown>('GET', `/anomalies/${encodeURIComponent(id)}`)),
  resolveAnomaly: async (id: string, verdict: Verdict): Promise<Anomaly | undefined> => {
    const r = await request<unknown>('POST', `/anomalies/${encodeURIComponent(id)}/resolve`, { verdict });
    return r && typeof r === 'object' && 'id' in r ? normalizeAnomaly(r) : undefined;
  },

  rules: async (): Promise<ListResponse<Rule>> => {
    const r = await request<ListResponse<unknown>>('GET', '/rules');
    return { ...r, items: (r.items ?? []).map(normalizeRule) };
  },
  createRule: async (r: RuleInput) => normalizeRule(await request<unknown>('POST', '/rules', r)),
  updateRule: async (id: Rule['id'], r: Partial<RuleInput>) =>
    normalizeRule(await request<unknown>('PATCH', `/rules/${encodeURIComponent(String(id))}`, r)),
  deleteRule: (id: Rule['id']) => request<void>('DELETE', `/rules/${encodeURIComponent(String(id))}`),

  incidents: async (q?: IncidentQuery): Promise<ListResponse<Incident>> => {
    const r = await request<ListResponse<unknown>>('GET', '/incidents', undefined, q as Query);
    return { ...r, items: (r.items ?? []).map((x) => normalizeIncident(x)) };
  },
  incident: async (id: string) => normalizeIncident<IncidentDetail>(await request<unknown>('GET', `/incidents/${enc(id)}`)),
  createIncident: async (b: { anomaly_ids: string[]; title?: string; assigned_to?: string | null }) =>
    normalizeIncident<IncidentDetail>(await request<unknown>('POST', '/incidents', b)),
  updateIncident: async (id: string, b: IncidentPatch) =>
    normalizeIncident<IncidentDetail>(await request<unknown>('PATCH', `/incidents/${enc(id)}`, b)),
  commentIncident: (id: string, text: string) => request<TimelineEvent>('POST', `/incidents/${enc(id)}/comments`, { text }),
  linkAnomaly: async (id: string, anomalyId: string) =>
    normalizeIncident<IncidentDetail>(await request<unknown>('POST', `/incidents/${enc(id)}/anomalies`, { anomaly_id: anomalyId })),

  alerts: async (q?: AlertQuery): Promise<ListResponse<Alert>> => {
    const r = await request<ListResponse<unknown>>('GET', '/alerts', undefined, q as Query);
    return { ...r, items: (r.items ?? []).map((x) => normalizeAlert(x)) };
  },
  alert: async (id: string) => normalizeAlert<AlertDetail>(await request<unknown>('GET', `/alerts/${enc(id)}`)),
  retryAlert: async (id: string) => normalizeAlert<Alert>(await request<unknown>('POST', `/alerts/${enc(id)}/retry`)),
  ackAlert: async (id: string) => normalizeAlert<Alert>(await request<unknown>('POST', `/alerts/${enc(id)}/ack`)),
  channels: () => request<ListResponse<AlertChannel>>('GET', '/alert-channels'),
  createChannel: (c: ChannelInput) => request<AlertChannel>('POST', '/alert-channels', c),
  updateChannel: (id: string, c: Partial<ChannelInput>) => request<AlertChannel>('PATCH', `/alert-channels/${enc(id)}`, c),
  deleteChannel: (id: string) => request<void>('DELETE', `/alert-channels/${enc(id)}`),
  testChannel: async (id: string, to?: string) =>
    normalizeAlert<Alert>(await request<unknown>('POST', `/alert-channels/${enc(id)}/test`, to ? { to } : {})),
  policies: () => request<ListResponse<AlertPolicy>>('GET', '/alert-policies'),
  createPolicy: (p: Partial<PolicyInput>) => request<AlertPolicy>('POST', '/alert-policies', p),
  updatePolicy: (id: string, p: Partial<PolicyInput>) => request<AlertPolicy>('PATCH', `/alert-policies/${enc(id)}`, p),
  deletePolicy: (id: string) => request<void>('DELETE', `/alert-policies/${enc(id)}`),
  alertSettings: () => request<AlertSettings>('GET', '/alert-settings'),
  updateAlertSettings: (s: Partial<Omit<AlertSettings, 'allow_private'>>) => request<AlertSettings>('PATCH', '/alert-settings', s),
  contacts: () => request<ListResponse<Contact>>('GET', '/me/contacts'),
  putContacts: (contacts: Contact[]) =>
    request<ListResponse<Contact>>('PUT', '/me/contacts', {
      contacts: contacts.map(({ kind, address, min_severity, enabled }) => ({ kind, address, min_severity, enabled })),
    }),

  users: () => request<ListResponse<User>>('GET', '/users'),
  assignableUsers: () => request<ListResponse<User>>('GET', '/users/assignable'),
  createUser: (u: { email: string; password: string; role: Role; name: string }) => request<User>('POST', '/users', u),
  updateUser: (id: string, u: { role?: Role; name?: string; disabled?: boolean }) =>
    request<User>('PATCH', `/users/${encodeURIComponent(id)}`, u),
  deleteUser: (id: string) => request<void>('DELETE', `/users/${encodeURIComponent(id)}`),
  settings: () => request<Settings>('GET', '/settings'),
  updateSettings: (s: Partial<Settings>) => request<Settings>('PATCH', '/settings', s),
  audit: (q?: { limit?: number; before_seq?: number; action?: string }) => request<ListResponse<AuditRow>>('GET', '/audit', undefined, q),
  auditVerify: () => request<AuditVerify>('GET', '/audit/verify'),

  // reports and forensic exports; downloads are plain links (reportUrl / exportUrl): the
  // browser streams them with the session cookie
  reports: (q?: { kind?: ReportKind; limit?: number; offset?: number }) => request<ListResponse<Report>>('GET', '/reports', undefined, q),
  report: (id: string) => request<Report>('GET', `/reports/${enc(id)}`),
  createReport: (b: { kind: ReportKind } & ReportFilters) => request<Report>('POST', '/reports', b),
  reportDocument: (id: string) => request<ReportDocument>('GET', `/reports/${enc(id)}/download`, undefined, { format: 'json' }),
  schedules: () => request<ListResponse<ReportSchedule>>('GET', '/reports/schedules'),
  createSchedule: (b: { name: string; kind: ReportKind; period: 'daily' | 'weekly'; run_now?: boolean } & Omit<ReportFilters, 'from' | 'to'>) =>
    request<ReportSchedule>('POST', '/reports/schedules', b),
  deleteSchedule: (id: number) => request<void>('DELETE', `/reports/schedules/${enc(String(id))}`),
  exports: (q?: { limit?: number }) => request<ListResponse<ExportRecord>>('GET', '/exports', undefined, q),

  /** Prometheus text from /metrics (outside /api/v1). */
  async promMetrics(): Promise<string> {
    const res = await fetch('/metrics', { credentials: 'same-origin' });
    if (!res.ok) throw new ApiError(res.status, 'http_error', `HTTP ${res.status}`);
    return res.text();
  },
};

/** Runs an optional endpoint: a 404 (feature not in this server yet) yields `fallback`. */
export async function optional<T>(p: Promise<T>, fallback: T): Promise<{ data: T; available: boolean }> {
  try {
    return { data: await p, available: true };
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 501)) return { data: fallback, available: false };
    throw e;
  }
}

/** Download address of a stored report in a format. */
export const reportUrl = (id: string, format: ReportFormat) => `/api/v1/reports/${enc(id)}/download${buildQuery({ format })}`;

/** Address of a streamed forensic export (GET starts it; the last record is its manifest). */
export function exportUrl(q: { from?: number | string; to?: number | string; device_id?: string; device_type?: string; what?: ExportWhat[]; format: 'ndjson' | 'csv' }): string {
  return `/api/v1/export${buildQuery({ ...q, what: q.what?.length ? q.what.join(',') : undefined })}`;
}
