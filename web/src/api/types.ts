// Wire types of the iotad REST API (/api/v1) and the live stream. Times are Unix ms.
export type Role = 'admin' | 'analyst' | 'device_owner';

export interface User {
  id: string;
  name: string;
  email: string;
  role: Role;
  disabled?: boolean;
  created_at?: number;
}

export interface LoginResponse {
  token: string;
  expires_at: number;
  user: User;
}

export interface Device {
  id: string;
  owner_id: string;
  name: string;
  type: string;
  location: string;
  firmware: string;
  attributes: Record<string, unknown> | null;
  status: 'online' | 'offline' | string;
  last_seen: number | null;
  created_at: number;
  updated_at: number;
}

export interface DeviceInput {
  name: string;
  type: string;
  location: string;
  firmware: string;
  attributes?: Record<string, unknown>;
  /** Admin only: the user the device belongs to (a DeviceOwner sees only own devices) */
  owner_id?: string;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  created_at: number;
  revoked_at: number | null;
  revoked: boolean;
}

export interface NewApiKey extends Partial<ApiKey> {
  id: string;
  key: string;
  prefix: string;
}

export interface ListResponse<T> {
  items: T[];
  total?: number;
  /** a search counted its matches up to a cap: total is a lower bound */
  total_capped?: boolean;
  limit?: number;
  offset?: number;
}

export interface RawPoint {
  ts: number;
  metric: string;
  value: number;
}

export interface Bucket {
  ts: number;
  metric: string;
  min: number;
  max: number;
  avg: number;
  count: number;
}

export interface DataResponse {
  points?: RawPoint[];
  buckets?: Bucket[];
  next_from?: number;
}

export type EventCategory = 'status' | 'security';

export interface DeviceEvent {
  id: number | string;
  ts: number;
  device_id: string | null;
  category: EventCategory | string;
  kind: string;
  transport: string | null;
  peer: string | null;
  detail: string | null;
}

export type Severity = 'critical' | 'warning' | 'info';
export type Verdict = 'confirmed' | 'false_positive';

export interface Anomaly {
  id: string;
  device_id: string;
  device_name?: string;
  metric: string;
  detected_at: number;
  updated_at?: number;
  severity: Severity;
  description: string;
  details?: {
    score?: number;
    value?: number;
    expected_lo?: number;
    expected_hi?: number;
    detectors?: { name: string; score: number }[];
    [k: string]: unknown;
  };
  resolved: boolean;
  resolved_at?: number | null;
  verdict?: Verdict | null;
  /** the incident it is in: its open one (at most one), else the latest resolved one */
  incident_id?: string | null;
  incident_status?: IncidentStatus | null;
  incident_title?: string | null;
}

export interface AuditRow {
  seq: number;
  ts: number;
  actor: string | null;
  action: string;
  target: string | null;
  detail: string | null;
  peer: string | null;
}

export interface AuditVerify {
  intact: boolean;
  rows: number;
  first_bad_seq?: number;
  reason?: string;
}

export interface Settings {
  signup: 'open' | 'invite' | 'off';
  [k: string]: unknown;
}

export interface LivePoint {
  metric: string;
  ts: number;
  value: number;
}

export type StreamMessage =
  | { type: 'hello'; [k: string]: unknown }
  | { type: 'subscribed'; [k: string]: unknown }
  | { type: 'points'; device_id: string; points: LivePoint[] }
  | { type: 'device_status'; device_id: string; status: string; ts: number }
  | { type: 'anomaly'; anomaly: Anomaly }
  | { type: 'incident'; incident: Incident }
  | { type: 'alert'; alert: AlertEvent }
  | { type: 'error'; [k: string]: unknown };

export type RuleKind = 'above' | 'below' | 'rate' | 'stale';

export interface Rule {
  id: number | string;
  name: string;
  device_id?: string | null;
  device_type?: string | null;
  metric: string;
  kind: RuleKind;
  threshold: number | null;
  for_ms: number;
  severity: Severity;
  enabled: boolean;
}

export type RuleInput = Omit<Rule, 'id'>;

// ---- incidents -------------------------------------------------------------------------------

export type IncidentStatus = 'new' | 'investigating' | 'resolved';

/** A row of GET /incidents (and the "incident" stream event). */
export interface Incident {
  id: string;
  title: string;
  status: IncidentStatus;
  severity: Severity;
  device_id: string | null;
  device_name: string | null;
  anomaly_id: string | null;
  assigned_to: string | null;
  assignee_name: string | null;
  origin: 'auto' | 'manual' | string;
  created_by: string | null;
  created_at: number;
  updated_at: number;
  acknowledged_at: number | null;
  resolved_at: number | null;
  verdict: Verdict | null;
  time_to_acknowledge_ms: number | null;
  time_to_resolve_ms: number | null;
  anomaly_count: number;
  /** stream events only: the linked anomalies */
  anomaly_ids?: string[];
}

export interface IncidentAnomaly {
  id: string;
  device_id: string;
  device_name: string;
  metric: string;
  severity: Severity;
  description: string;
  detected_at: number;
  resolved: boolean;
  verdict: Verdict | null;
  added_at: number;
}

export type TimelineKind =
  | 'created' | 'anomaly_linked' | 'assigned' | 'unassigned' | 'status_changed' | 'reopened' | 'retitled' | 'comment';

export interface TimelineEvent {
  id: number;
  ts: number;
  actor: string; // user id or "system"
  actor_name?: string | null;
  kind: TimelineKind | string;
  detail: Record<string, string | null | undefined> | null;
}

/** GET /incidents/{id}: the row plus its anomalies (a DeviceOwner sees only own) and timeline. */
export interface IncidentDetail extends Incident {
  anomalies: IncidentAnomaly[];
  timeline: TimelineEvent[];
}

export interface IncidentPatch {
  status?: IncidentStatus;
  verdict?: Verdict;
  title?: string;
  assigned_to?: string | null;
}

// ---- alerts ----------------------------------------------------------------------------------

export type AlertStatus = 'pending' | 'sending' | 'sent' | 'dead';
export type AlertMethod = 'webhook' | 'email' | 'sms' | 'syslog';

/** A row of the outbox (GET /alerts). */
export interface Alert {
  id: string;
  anomaly_id: string | null;
  user_id: string | null;
  method: AlertMethod | string;
  recipient: string;
  status: AlertStatus;
  attempts: number;
  created_at: number;
  sent_at: number | null;
  due_at: number | null;
  updated_at?: number | null;
  severity: Severity;
  kind: 'anomaly' | 'flapping' | 'escalation' | 'test' | string;
  count: number;
  device_id: string | null;
  channel_id?: string | null;
  policy_id?: string | null;
  last_error: string | null;
  acked_at?: number | null;
  acked_by?: string | null;
}

/** The "alert" stream event carries a subset of the row's fields. */
export type AlertEvent = Pick<Alert, 'id'> & Partial<Alert>;

export interface AlertAttempt {
  attempt: number;
  started_at: number;
  duration_ms: number;
  ok: boolean;
  code: number | null;
  error: string | null;
}

export interface AlertDetail extends Alert {
  payload?: Record<string, unknown> | null;
  attempts_log: AlertAttempt[];
  anomaly_ids: string[];
}

export type ChannelKind = 'webhook' | 'email' | 'sms' | 'syslog';

export interface AlertChannel {
  id: string;
  name: string;
  kind: ChannelKind;
  url: string;
  config: Record<string, string> | null;
  enabled: boolean;
  rate_per_min: number;
  has_secret: boolean;
  created_at: number;
  updated_at: number;
}

export interface ChannelInput {
  name: string;
  kind?: ChannelKind; // create only
  url: string;
  config?: Record<string, string>;
  secret?: string; // write-only; omitted = unchanged
  enabled?: boolean;
  rate_per_min?: number;
}

export interface AlertPolicy {
  id: string;
  name: string;
  enabled: boolean;
  channel_id: string;
  severities: Severity[];
  device_id: string | null;
  device_type: string | null;
  users: string[];
  roles: Role[];
  device_owner: boolean;
  addresses: string[];
  group_wait_ms: number;
  group_window_ms: number;
  escalate_after_ms: number;
  escalate_users: string[];
  escalate_roles: Role[];
  escalate_addresses: string[];
  created_at: number;
  updated_at: number;
}

export type PolicyInput = Omit<AlertPolicy, 'id' | 'created_at' | 'updated_at'>;

export interface AlertSettings {
  public_url: string;
  allow_nets: string;
  allow_private: boolean;
  auto_incident: Severity | 'off';
  flap_window_ms: number;
  flap_threshold: number;
  retry_base_ms: number;
  retry_max_ms: number;
  max_attempts: number;
  timeout_ms: number;
}

export interface Contact {
  id?: string;
  kind: 'email' | 'sms';
  address: string;
  min_severity: Severity;
  enabled: boolean;
  created_at?: number;
}

// ---- reports and exports ----------------------------------------------------------------------

export type ReportKind = 'security' | 'performance' | 'compliance';
export type ReportFormat = 'pdf' | 'csv' | 'json';

export interface ReportFilters {
  from?: number | string;
  to?: number | string;
  device_type?: string;
  group?: string;
  device_id?: string;
}

/** A stored report (GET /reports, /reports/{id}); built a slice at a time, `progress` 0..1. */
export interface Report {
  id: string;
  kind: ReportKind;
  status: 'queued' | 'running' | 'done' | 'failed';
  from: number;
  to: number;
  params: Record<string, unknown> | null;
  schedule_id: number | null;
  created_by: string | null;
  created_at: number;
  finished_at: number | null;
  error: string | null;
  sha256: string | null;
  progress: number;
}

export interface ReportSection {
  title: string;
  chart?: string;
  note?: string;
  columns: string[];
  rows: (string | number | null)[][];
}

/** The JSON document of a report (download?format=json). */
export interface ReportDocument {
  kind: ReportKind;
  title: string;
  from: number;
  to: number;
  generated_at: number;
  summary: Record<string, number | string>;
  sections: Record<string, ReportSection>;
  audit_chain?: { intact: boolean; first_bad_seq?: number; reason?: string };
}

export interface ReportSchedule {
  id: number;
  name: string;
  kind: ReportKind;
  period: 'daily' | 'weekly';
  params: Record<string, unknown> | null;
  is_enabled: boolean;
  next_run: number | null;
  last_run: number | null;
  created_by: string | null;
  created_at: number;
}

export interface ExportRecord {
  id: string;
  created_by: string | null;
  peer: string | null;
  format: 'ndjson' | 'csv';
  params: Record<string, unknown> | null;
  started_at: number;
  finished_at: number | null;
  status: 'running' | 'done' | 'aborted' | string;
  bytes: number | null;
  records: Record<string, number> | number | null;
  sha256: string | null;
  manifest: Record<string, unknown> | null;
}

export type ExportWhat = 'points' | 'anomalies' | 'incidents' | 'events' | 'audit';
