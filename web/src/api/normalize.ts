// Tolerant readers for wire shapes that vary between server versions: anomalies carry
// `resolved` or `is_resolved`; times may be Unix ms or RFC 3339 strings.
import type { Alert, AlertEvent, Anomaly, Incident, Rule, StreamMessage } from './types';

export function toMs(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v) {
    const n = Number(v);
    if (Number.isFinite(n)) return n;
    const p = Date.parse(v);
    if (Number.isFinite(p)) return p;
  }
  return null;
}

export function normalizeAnomaly(raw: unknown): Anomaly {
  const a = (raw ?? {}) as Record<string, unknown>;
  const resolved = a.resolved ?? a.is_resolved;
  return {
    ...(a as unknown as Anomaly),
    detected_at: toMs(a.detected_at) ?? 0,
    updated_at: toMs(a.updated_at) ?? undefined,
    resolved_at: toMs(a.resolved_at),
    resolved: resolved === true || resolved === 1 || resolved === 'true',
  };
}

/** Normalizes a parsed stream message in place of the raw one; null for unusable input. */
export function normalizeMessage(raw: unknown): StreamMessage | null {
  if (!raw || typeof raw !== 'object') return null;
  const m = raw as Record<string, unknown>;
  switch (m.type) {
    case 'device_status':
      return { type: 'device_status', device_id: String(m.device_id), status: String(m.status), ts: toMs(m.ts) ?? Date.now() };
    case 'anomaly':
      return m.anomaly ? { type: 'anomaly', anomaly: normalizeAnomaly(m.anomaly) } : null;
    case 'incident':
      return m.incident && typeof m.incident === 'object' && 'id' in m.incident
        ? { type: 'incident', incident: normalizeIncident(m.incident) }
        : null;
    case 'alert':
      return m.alert && typeof m.alert === 'object' && 'id' in m.alert ? { type: 'alert', alert: normalizeAlert(m.alert) } : null;
    case 'points':
      return Array.isArray(m.points) ? (m as unknown as StreamMessage) : null;
    default:
      return typeof m.type === 'string' ? (m as unknown as StreamMessage) : null;
  }
}

export function normalizeRule(raw: unknown): Rule {
  const r = (raw ?? {}) as Record<string, unknown>;
  const en = r.enabled ?? r.is_enabled;
  return { ...(r as unknown as Rule), for_ms: Number(r.for_ms ?? 0), enabled: en === undefined ? true : en === true || en === 1 };
}

const INCIDENT_TIMES = ['created_at', 'updated_at', 'acknowledged_at', 'resolved_at'] as const;

export function normalizeIncident<T extends Incident = Incident>(raw: unknown): T {
  const r = (raw ?? {}) as Record<string, unknown>;
  const out = { ...r } as Record<string, unknown>;
  for (const k of INCIDENT_TIMES) out[k] = toMs(r[k]);
  out.created_at = (out.created_at as number | null) ?? 0;
  out.updated_at = (out.updated_at as number | null) ?? (out.created_at as number);
  out.anomaly_count = Number(r.anomaly_count ?? (Array.isArray(r.anomalies) ? r.anomalies.length : 0));
  return out as unknown as T;
}

const ALERT_TIMES = ['created_at', 'sent_at', 'due_at', 'updated_at', 'acked_at'] as const;

/** Alert rows and stream events; only the fields present are set (events carry a subset). */
export function normalizeAlert<T extends AlertEvent = Alert>(raw: unknown): T {
  const r = (raw ?? {}) as Record<string, unknown>;
  const out = { ...r } as Record<string, unknown>;
  for (const k of ALERT_TIMES) if (k in r) out[k] = toMs(r[k]);
  if ('attempts' in r) out.attempts = Number(r.attempts ?? 0);
  if ('count' in r) out.count = Number(r.count ?? 1);
  return out as unknown as T;
}
