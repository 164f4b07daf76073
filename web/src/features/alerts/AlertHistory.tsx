// Alert history: every message and recipient with its delivery status (queued, sending,
// delivered, retrying, failed = dead letter), live as the worker delivers and retries. The panel
// shows one alert's delivery attempts and anomalies; Admins requeue a dead letter, Analysts and
// Admins acknowledge (which stops its escalation).
import { useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import { Check, Mail, MessageSquareText, RefreshCw, RotateCcw, Webhook } from 'lucide-react';
import type { Alert, AlertDetail } from '@/api/types';
import { Button } from '@/components/ui/button';
import { Badge, SeverityBadge } from '@/components/ui/badge';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { NativeSelect } from '@/components/ui/input';
import { DevicePicker } from '@/components/DevicePicker';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { attemptResult, deliveryState, HISTORY_LIMIT, useAlerts } from '@/stores/alerts';
import { useAuth, can } from '@/stores/auth';
import { useDeviceLabel, useDevices, type DeviceLabel } from '@/stores/devices';
import { userNamer, useUsers } from '@/stores/users';
import { fmtTime } from '@/lib/utils';

const METHOD_ICON = { webhook: Webhook, email: Mail, sms: MessageSquareText } as const;
const KIND_TEXT: Record<string, string> = { anomaly: 'anomaly', flapping: 'flapping', escalation: 'escalation', test: 'test message' };

export function AlertHistory() {
  const { items, total, loading, error, filter, setFilter, load, selectedId, select } = useAlerts();
  const loadDevices = useDevices((s) => s.load);
  const loadUsers = useUsers((s) => s.load);
  useEffect(() => {
    void load();
    void loadDevices();
    void loadUsers();
    return () => void select(null);
  }, [load, loadDevices, loadUsers, select]);
  const deviceName = useDeviceLabel();

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-2" role="search" aria-label="Filter alerts">
        <NativeSelect className="w-52" aria-label="Delivery status" value={filter.status} onChange={(e) => setFilter({ status: e.target.value as typeof filter.status })}>
          <option value="">All delivery states</option>
          <option value="pending">Queued / retrying</option>
          <option value="sending">Sending</option>
          <option value="sent">Delivered</option>
          <option value="dead">Failed (dead letter)</option>
        </NativeSelect>
        <NativeSelect className="w-40" aria-label="Method" value={filter.method} onChange={(e) => setFilter({ method: e.target.value })}>
          <option value="">All methods</option>
          <option value="webhook">Webhook</option>
          <option value="email">E-mail</option>
          <option value="sms">SMS</option>
          <option value="syslog">Syslog</option>
        </NativeSelect>
        <DevicePicker className="w-56" aria-label="Device" noneLabel="All devices" value={filter.device_id} onChange={(id) => setFilter({ device_id: id })} />
        <Button variant="outline" onClick={() => load()} aria-label="Reload alerts">
          <RefreshCw className={loading ? 'animate-spin' : ''} />
        </Button>
        {total > items.length && <span className="text-xs text-muted-foreground">newest {items.length} of {total}</span>}
      </div>
      <div className="grid gap-3 lg:grid-cols-[1fr_400px]">
        <Card className="h-fit min-w-0">
          {error ? (
            <ErrorState message={error} onRetry={load} />
          ) : loading && items.length === 0 ? (
            <Loading label="Loading alerts…" />
          ) : items.length === 0 ? (
            <Empty title="No alerts match">
              Alerts are sent when a policy matches an anomaly; an Admin sets up channels and policies.
            </Empty>
          ) : (
            <ul className="divide-y" aria-label="Alerts" data-testid="alert-list">
              {items.slice(0, HISTORY_LIMIT).map((a) => (
                <AlertRow key={a.id} a={a} device={deviceName(a.device_id)} selected={selectedId === a.id} onSelect={() => select(a.id)} />
              ))}
            </ul>
          )}
        </Card>
        <Card className="h-fit">
          <CardHeader><CardTitle>Delivery</CardTitle></CardHeader>
          <CardContent>
            <AlertPanel deviceName={deviceName} />
          </CardContent>
        </Card>
      </div>
    </div>
  );
}

function AlertRow({ a, device, selected, onSelect }: { a: Alert; device: string; selected: boolean; onSelect: () => void }) {
  const st = deliveryState(a);
  const Icon = METHOD_ICON[a.method as keyof typeof METHOD_ICON] ?? Mail;
  return (
    <li>
      <button
        onClick={onSelect}
        aria-pressed={selected}
        data-testid="alert-row"
        data-status={a.status}
        className={`flex w-full cursor-pointer flex-wrap items-center gap-2 px-4 py-3 text-left text-sm hover:bg-accent/60 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-ring ${selected ? 'bg-accent' : ''}`}
      >
        <SeverityBadge severity={a.severity} />
        <span className="font-medium">{device}</span>
        <span className="text-muted-foreground">{KIND_TEXT[a.kind] ?? a.kind}{a.count > 1 ? ` ×${a.count}` : ''}</span>
        <Badge variant={st.tone} className="ml-auto">{st.label}</Badge>
        <span className="flex min-w-0 basis-full items-center gap-1.5 text-muted-foreground">
          <Icon className="size-3.5 shrink-0" aria-label={a.method} />
          <span className="truncate" title={a.recipient}>{a.recipient}</span>
          <span className="ml-auto shrink-0 text-xs">{fmtTime(a.created_at)}</span>
        </span>
      </button>
    </li>
  );
}

function AlertPanel({ deviceName }: { deviceName: DeviceLabel }) {
  const { selectedId, detail, detailError, refreshDetail, retry, ack } = useAlerts();
  const me = useAuth((s) => s.user);
  const users = useUsers((s) => s.items);
  const [opError, setOpError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setOpError(null), [selectedId]);
  if (!selectedId) return <p className="text-sm text-muted-foreground">Select an alert to see its delivery attempts.</p>;
  if (detailError && !detail) return <ErrorState message={detailError} onRetry={refreshDetail} />;
  if (!detail || detail.id !== selectedId) return <Loading />;
  const d: AlertDetail = detail;
  // a retried dead letter starts counting again on the server: the log has every attempt
  const st = deliveryState({ ...d, attempts: Math.max(d.attempts, d.attempts_log.length) });
  const nameOf = userNamer(users, me);
  async function run(fn: () => Promise<void>) {
    setBusy(true);
    setOpError(null);
    try {
      await fn();
    } catch (e) {
      setOpError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }
  const summary = typeof d.payload?.summary === 'string' ? d.payload.summary : null;
  return (
    <div className="space-y-3 text-sm" data-testid="alert-detail">
      <div className="flex flex-wrap items-center gap-2">
        <Badge variant={st.tone} data-testid="alert-delivery">{st.label}</Badge>
        <span className="text-muted-foreground">{st.hint}</span>
      </div>
      {summary && <p>{summary}</p>}
      <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1">
        <dt className="text-muted-foreground">Kind</dt>
        <dd>{KIND_TEXT[d.kind] ?? d.kind}{d.count > 1 ? ` (${d.count} anomalies grouped)` : ''}</dd>
        <dt className="text-muted-foreground">Device</dt>
        <dd>{d.device_id ? <Link className="text-primary hover:underline" to={`/devices/${d.device_id}`}>{deviceName(d.device_id)}</Link> : '—'}</dd>
        <dt className="text-muted-foreground">To</dt>
        <dd className="break-all">{d.method}: {d.recipient}</dd>
        <dt className="text-muted-foreground">Created</dt>
        <dd>{fmtTime(d.created_at)}</dd>
        {d.sent_at ? (
          <><dt className="text-muted-foreground">Delivered</dt><dd>{fmtTime(d.sent_at)}</dd></>
        ) : d.status === 'pending' && d.due_at ? (
          <><dt className="text-muted-foreground">Next attempt</dt><dd>{fmtTime(d.due_at)}</dd></>
        ) : null}
        {d.acked_at ? (
          <><dt className="text-muted-foreground">Acknowledged</dt><dd>{fmtTime(d.acked_at)}{d.acked_by ? ` by ${nameOf(d.acked_by) ?? 'a user'}` : ''}</dd></>
        ) : null}
      </dl>
      <div>
        <p className="mb-1 text-xs font-medium text-muted-foreground">Attempts ({d.attempts_log.length})</p>
        {d.attempts_log.length === 0 ? (
          <p className="text-muted-foreground">No attempt yet.</p>
        ) : (
          <table className="w-full text-xs" data-testid="alert-attempts">
            <thead className="text-left text-muted-foreground">
              <tr><th className="py-1 pr-2 font-medium">#</th><th className="py-1 font-medium">Time</th><th className="py-1 font-medium">Took</th><th className="py-1 font-medium">Result</th></tr>
            </thead>
            <tbody>
              {d.attempts_log.map((t, k) => (
                // attempt numbers restart after a retry of a dead letter: the index is the key
                <tr key={k} className="border-t align-top">
                  <td className="py-1 pr-2 tabular-nums">{k + 1}</td>
                  <td className="py-1 whitespace-nowrap pr-2">{fmtTime(t.started_at)}</td>
                  <td className="py-1 tabular-nums pr-2">{t.duration_ms} ms</td>
                  <td className={`py-1 break-all ${t.ok ? 'text-green-800 dark:text-green-200' : 'text-destructive'}`}>
                    {attemptResult(t)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      {d.anomaly_ids.length > 0 && (
        <div>
          <p className="mb-1 text-xs font-medium text-muted-foreground">Anomalies</p>
          <ul className="flex flex-wrap gap-x-3 gap-y-1">
            {d.anomaly_ids.slice(0, 20).map((id, k) => (
              <li key={id}><Link className="text-primary hover:underline" to={`/anomalies?id=${id}`}>Anomaly {k + 1}</Link></li>
            ))}
          </ul>
        </div>
      )}
      {opError && <p role="alert" className="text-destructive">{opError}</p>}
      <div className="flex flex-wrap gap-2">
        {d.status === 'dead' && can(me?.role, 'alert_admin') && (
          <Button size="sm" disabled={busy} onClick={() => run(() => retry(d.id))}><RotateCcw aria-hidden /> Retry delivery</Button>
        )}
        {!d.acked_at && d.kind !== 'test' && can(me?.role, 'work_incidents') && (
          <Button size="sm" variant="outline" disabled={busy} onClick={() => run(() => ack(d.id))}><Check aria-hidden /> Acknowledge</Button>
        )}
      </div>
    </div>
  );
}
