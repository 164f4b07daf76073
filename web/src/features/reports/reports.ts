// Pure helpers of the Reports view (unit-tested): labels, what a report row says about its
// state, the summary in words, and which reports still need polling.
import type { Report, ReportKind, Role } from '@/api/types';
import { can } from '@/stores/auth';

export const KIND_LABEL: Record<ReportKind, string> = { security: 'Security', performance: 'Performance', compliance: 'Compliance' };

/** Kinds a role may generate (compliance shows the audit log: Admin only). */
export function kindsFor(role: Role | undefined): ReportKind[] {
  return can(role, 'audit') ? ['security', 'performance', 'compliance'] : can(role, 'read_all') ? ['security', 'performance'] : [];
}

export function reportState(r: Pick<Report, 'status' | 'progress' | 'error'>): { label: string; tone: 'success' | 'warning' | 'destructive' | 'secondary'; pct: number | null } {
  switch (r.status) {
    case 'done':
      return { label: 'Ready', tone: 'success', pct: null };
    case 'failed':
      return { label: r.error ? `Failed: ${r.error}` : 'Failed', tone: 'destructive', pct: null };
    case 'running':
      return { label: 'Building', tone: 'warning', pct: Math.round(Math.min(1, Math.max(0, r.progress)) * 100) };
    default:
      return { label: 'Queued', tone: 'secondary', pct: 0 };
  }
}

export const pending = (items: Pick<Report, 'status'>[]): boolean => items.some((r) => r.status === 'queued' || r.status === 'running');

/** "auth_failures" -> "Auth failures". */
export function humanKey(k: string): string {
  const s = k.replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function fmtBytes(n: number | null | undefined): string {
  if (n == null) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** Records of an export in words: "120 points, 3 anomalies". */
export function fmtRecords(r: Record<string, number> | number | null | undefined): string {
  if (r == null) return '—';
  if (typeof r === 'number') return `${r.toLocaleString()} records`;
  const parts = Object.entries(r).filter(([, n]) => n > 0).map(([k, n]) => `${n.toLocaleString()} ${k}`);
  return parts.length ? parts.join(', ') : 'nothing';
}
