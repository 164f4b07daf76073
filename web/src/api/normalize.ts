// Tolerant readers for wire shapes that vary between server versions: anomalies carry
// `resolved` or `is_resolved`; times may be Unix ms or RFC 3339 strings.
import type { Anomaly, Rule, StreamMessage } from './types';

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
