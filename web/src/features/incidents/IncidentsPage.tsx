// Incident board: New / Investigating / Resolved columns with filters (status, assignee, severity,
// device). Cards link to the incident; changes from anyone arrive live over the stream.
import { useEffect } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { RefreshCw, TriangleAlert, UserRound } from 'lucide-react';
import type { Incident, IncidentStatus } from '@/api/types';
import { PageHeader } from '@/components/Layout';
import { Button } from '@/components/ui/button';
import { Badge, SeverityBadge } from '@/components/ui/badge';
import { Card } from '@/components/ui/card';
import { NativeSelect } from '@/components/ui/input';
import { DevicePicker } from '@/components/DevicePicker';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { useAuth, can } from '@/stores/auth';
import { useDeviceLabel, useDevices, type DeviceLabel } from '@/stores/devices';
import { assignableUsers, STATUS_LABEL, STATUSES, useIncidents, verdictText } from '@/stores/incidents';
import { useUsers } from '@/stores/users';
import { cn, fmtAgo } from '@/lib/utils';

export default function IncidentsPage() {
  const { columns, loading, loadedAt, error, filter, setFilter, load } = useIncidents();
  const role = useAuth((s) => s.user?.role);
  const loadDevices = useDevices((s) => s.load);
  const users = useUsers();
  const loadUsers = users.load;
  const [params] = useSearchParams();
  useEffect(() => {
    // ?status=new (the Overview's counts link here): that column only, other filters cleared
    const st = params.get('status');
    if (st !== null) setFilter({ status: (STATUSES as string[]).includes(st) ? (st as IncidentStatus) : '', assigned_to: '', severity: '', device_id: '' });
    else void load();
    void loadDevices();
    void loadUsers();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const deviceName = useDeviceLabel();
  const shown: IncidentStatus[] = filter.status ? [filter.status] : STATUSES;
  const total = shown.reduce((n, s) => n + columns[s].total, 0);
  const canWork = can(role, 'work_incidents');

  return (
    <div className="space-y-3">
      <PageHeader title="Incidents" description="Investigations by status; changes by anyone appear here live">
        <Button variant="outline" onClick={() => load()} aria-label="Reload incidents">
          <RefreshCw className={loading ? 'animate-spin' : ''} />
        </Button>
      </PageHeader>
      <div className="flex flex-wrap gap-2" role="search" aria-label="Filter incidents">
        <NativeSelect className="w-40" aria-label="Status" value={filter.status} onChange={(e) => setFilter({ status: e.target.value as typeof filter.status })}>
          <option value="">All statuses</option>
          {STATUSES.map((s) => <option key={s} value={s}>{STATUS_LABEL[s]}</option>)}
        </NativeSelect>
        <NativeSelect className="w-48" aria-label="Assignee" value={filter.assigned_to} onChange={(e) => setFilter({ assigned_to: e.target.value })}>
          <option value="">Anyone</option>
          {canWork && <option value="me">Assigned to me</option>}
          <option value="none">Unassigned</option>
          {assignableUsers(users.items).map((u) => <option key={u.id} value={u.id}>{u.name || u.email}</option>)}
        </NativeSelect>
        <NativeSelect className="w-40" aria-label="Severity" value={filter.severity} onChange={(e) => setFilter({ severity: e.target.value as typeof filter.severity })}>
          <option value="">All severities</option>
          <option value="critical">Critical</option>
          <option value="warning">Warning</option>
          <option value="info">Info</option>
        </NativeSelect>
        <DevicePicker className="w-56" aria-label="Device" noneLabel="All devices" value={filter.device_id} onChange={(id) => setFilter({ device_id: id })} />
      </div>
      {error ? (
        <Card><ErrorState message={error} onRetry={load} /></Card>
      ) : loading && !loadedAt ? (
        <Card><Loading label="Loading incidents…" /></Card>
      ) : total === 0 ? (
        <Card>
          <Empty title="No incidents match">
            {canWork
              ? 'Critical anomalies open incidents by themselves; you can also open one from the Anomalies view.'
              : 'Incidents involving your devices appear here.'}
            {' '}<Link className="text-primary underline" to="/anomalies">Go to Anomalies</Link>
          </Empty>
        </Card>
      ) : (
        <div className={cn('grid gap-3', shown.length === 3 ? 'lg:grid-cols-3' : '')} data-testid="incident-board">
          {shown.map((s) => (
            <BoardColumn key={s} status={s} items={columns[s].items} total={columns[s].total} deviceName={deviceName} />
          ))}
        </div>
      )}
    </div>
  );
}

function BoardColumn({ status, items, total, deviceName }: { status: IncidentStatus; items: Incident[]; total: number; deviceName: DeviceLabel }) {
  const headingId = `col-${status}`;
  return (
    <section aria-labelledby={headingId} className="flex min-w-0 flex-col rounded-lg border bg-muted/40" data-testid={`column-${status}`}>
      <div className="flex items-center justify-between px-3 py-2">
        <h2 id={headingId} className="text-sm font-semibold">{STATUS_LABEL[status]}</h2>
        <Badge variant="secondary" aria-label={`${total} incidents`}>{total}</Badge>
      </div>
      {items.length === 0 ? (
        <p className="px-3 pb-4 text-sm text-muted-foreground">No incidents.</p>
      ) : (
        <ul className="flex flex-col gap-2 px-2 pb-2" aria-label={`${STATUS_LABEL[status]} incidents`}>
          {items.map((i) => (
            <li key={i.id}>
              <IncidentCard i={i} deviceName={i.device_id ? deviceName(i.device_id, i.device_name) : undefined} />
            </li>
          ))}
        </ul>
      )}
      {total > items.length && <p className="px-3 pb-3 text-xs text-muted-foreground">Showing the newest {items.length} of {total}.</p>}
    </section>
  );
}

function IncidentCard({ i, deviceName }: { i: Incident; deviceName?: string }) {
  return (
    <Link
      to={`/incidents/${i.id}`}
      data-testid="incident-card"
      className="block rounded-md border bg-card p-3 text-sm shadow-sm hover:border-primary/50 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
    >
      <div className="mb-1 flex items-center gap-2">
        <SeverityBadge severity={i.severity} />
        {i.origin === 'auto' && <Badge variant="outline">auto</Badge>}
        {i.verdict && <Badge variant="secondary">{verdictText(i.verdict)}</Badge>}
        <span className="ml-auto text-xs text-muted-foreground" title={new Date(i.created_at).toLocaleString()}>{fmtAgo(i.created_at)}</span>
      </div>
      <p className="line-clamp-2 font-medium">{i.title}</p>
      <div className="mt-2 flex flex-wrap items-center gap-x-3 gap-y-1 text-xs text-muted-foreground">
        {deviceName && <span className="truncate">{deviceName}</span>}
        <span className="inline-flex items-center gap-1"><TriangleAlert className="size-3" aria-hidden />{i.anomaly_count} anomal{i.anomaly_count === 1 ? 'y' : 'ies'}</span>
        <span className="inline-flex items-center gap-1">
          <UserRound className="size-3" aria-hidden />
          {i.assigned_to ? i.assignee_name || 'assigned' : 'unassigned'}
        </span>
      </div>
    </Link>
  );
}
