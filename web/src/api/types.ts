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
