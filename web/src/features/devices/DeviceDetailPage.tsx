// One device: metadata (edit/delete), live telemetry charts per metric with a range picker
// (live = raw last 15 min + stream; 1 h / 24 h / 7 d = server rollups), anomalies marked on the
// charts, status history, security metrics (sys.*) and API keys.
import { useEffect, useMemo, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { ArrowLeft, Pencil, Trash2 } from 'lucide-react';
import { api } from '@/api/client';
import type { Device, DeviceEvent } from '@/api/types';
import { PageHeader } from '@/components/Layout';
import { Button } from '@/components/ui/button';
import { Badge, StatusBadge } from '@/components/ui/badge';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { Tabs, TabsContent, TabsList, TabsTrigger } from '@/components/ui/tabs';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { statusSpans } from '@/lib/shape';
import { useAsync } from '@/lib/useAsync';
import { fmtAgo, fmtTime } from '@/lib/utils';
import { useDevices } from '@/stores/devices';
import { can, useAuth } from '@/stores/auth';
import { useUsers } from '@/stores/users';
import { DeviceFormDialog, ownerCandidates } from './DeviceForm';
import { KeysPanel } from './KeysPanel';
import { Telemetry } from './Telemetry';

export default function DeviceDetailPage() {
  const { id = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const tab = params.get('tab') ?? 'telemetry';
  const navigate = useNavigate();
  const { update, remove } = useDevices();
  const dev = useAsync(() => api.device(id), [id]);
  const [editing, setEditing] = useState(false);
  const isAdmin = can(useAuth((s) => s.user?.role), 'admin');
  const users = useUsers();
  const loadUsers = users.load;
  useEffect(() => {
    if (isAdmin) void loadUsers();
  }, [isAdmin, loadUsers]);
  const storeDevice = useDevices((s) => {
    const i = s.index.get(id);
    return i === undefined ? undefined : s.items[i];
  });
  const ownerId = storeDevice?.owner_id ?? dev.data?.owner_id;
  const owner = isAdmin && ownerId ? users.items.find((u) => u.id === ownerId) : undefined;
  const device: Device | undefined = storeDevice && dev.data && storeDevice.updated_at >= dev.data.updated_at ? { ...dev.data, ...storeDevice } : dev.data;

  if (dev.error) {
    return (
      <div>
        <BackLink />
        <ErrorState message={`This device could not be loaded: ${dev.error}`} onRetry={dev.reload} />
      </div>
    );
  }
  if (!device) return <Loading label="Loading device…" />;

  return (
    <div>
      <BackLink />
      <PageHeader title={device.name} description={[device.type, device.location, device.firmware && `firmware ${device.firmware}`].filter(Boolean).join(' · ')}>
        <StatusBadge status={device.status} />
        <span className="text-xs text-muted-foreground">last seen {fmtAgo(device.last_seen)}</span>
        <Button variant="outline" size="sm" onClick={() => setEditing(true)}>
          <Pencil aria-hidden /> Edit
        </Button>
        <Button
          variant="outline"
          size="sm"
          className="text-destructive"
          onClick={async () => {
            if (!confirm(`Delete ${device.name} and its data?`)) return;
            await remove(device.id);
            navigate('/devices');
          }}
        >
          <Trash2 aria-hidden /> Delete
        </Button>
      </PageHeader>
      <p className="mb-3 text-xs text-muted-foreground">
        <span className="font-mono">id {device.id}</span>
        {owner && <span data-testid="device-owner"> · owner {owner.name || owner.email}</span>}
      </p>
      <Tabs
        value={tab}
        onValueChange={(v) => {
          const p = new URLSearchParams(params);
          p.set('tab', v);
          setParams(p, { replace: true });
        }}
      >
        <TabsList>
          <TabsTrigger value="telemetry">Telemetry</TabsTrigger>
          <TabsTrigger value="status">Status history</TabsTrigger>
          <TabsTrigger value="security">Security</TabsTrigger>
          <TabsTrigger value="keys">API keys</TabsTrigger>
        </TabsList>
        <TabsContent value="telemetry">
          <Telemetry deviceId={device.id} deviceType={device.type} security={false} />
        </TabsContent>
        <TabsContent value="status">
          <StatusHistory deviceId={device.id} />
        </TabsContent>
        <TabsContent value="security">
          <Telemetry deviceId={device.id} deviceType={device.type} security />
        </TabsContent>
        <TabsContent value="keys">
          <KeysPanel deviceId={device.id} />
        </TabsContent>
      </Tabs>
      <DeviceFormDialog
        open={editing}
        onOpenChange={setEditing}
        device={device}
        owners={isAdmin ? ownerCandidates(users.items) : undefined}
        onSubmit={async (input) => {
          const d = await update(device.id, input);
          dev.setData(d);
        }}
      />
    </div>
  );
}

function BackLink() {
  return (
    <Link to="/devices" className="mb-2 inline-flex items-center gap-1 text-sm text-muted-foreground hover:text-foreground">
      <ArrowLeft className="size-4" aria-hidden /> Devices
    </Link>
  );
}

function StatusHistory({ deviceId }: { deviceId: string }) {
  const { data, loading, error, reload } = useAsync(() => api.deviceEvents(deviceId, { from: '-7d', limit: 500 }), [deviceId]);
  const events: DeviceEvent[] = data?.items ?? [];
  const spans = useMemo(() => statusSpans(events, Date.now()), [events]);
  const now = spans.length ? spans[spans.length - 1].to : Date.now();
  if (error) return <ErrorState message={error} onRetry={reload} />;
  if (loading && !data) return <Loading />;
  if (events.length === 0) return <Card><Empty title="No events in the last 7 days" /></Card>;
  const from = spans.length ? spans[0].from : now;
  const total = Math.max(1, now - from);
  return (
    <div className="space-y-3">
      {spans.length > 0 && (
        <Card>
          <CardHeader>
            <CardTitle>Online / offline since {fmtTime(from)}</CardTitle>
          </CardHeader>
          <CardContent>
            <div className="flex h-6 w-full overflow-hidden rounded" role="img" aria-label={`${spans.length} status periods`}>
              {spans.map((s, i) => (
                <div
                  key={i}
                  title={`${s.status}: ${fmtTime(s.from)} – ${fmtTime(s.to)}`}
                  className={s.status === 'online' ? 'bg-success' : 'bg-muted-foreground/40'}
                  style={{ width: `${((s.to - s.from) / total) * 100}%` }}
                />
              ))}
            </div>
          </CardContent>
        </Card>
      )}
      <Card>
        <CardHeader>
          <CardTitle>Events</CardTitle>
        </CardHeader>
        <CardContent>
          <table role="table" className="card-table w-full text-sm">
            <thead role="rowgroup" className="text-left text-xs text-muted-foreground">
              <tr role="row">
                <th role="columnheader" className="py-2 font-medium">Time</th>
                <th role="columnheader" className="py-2 font-medium">Category</th>
                <th role="columnheader" className="py-2 font-medium">Kind</th>
                <th role="columnheader" className="py-2 font-medium">Transport</th>
                <th role="columnheader" className="py-2 font-medium">Peer</th>
                <th role="columnheader" className="py-2 font-medium">Detail</th>
              </tr>
            </thead>
            <tbody role="rowgroup">
              {events.slice(0, 200).map((e) => (
                <tr role="row" key={String(e.id)} className="border-t">
                  <td role="cell" data-label="Time" className="py-1.5 whitespace-nowrap text-muted-foreground">{fmtTime(e.ts)}</td>
                  <td role="cell" data-label="Category" className="py-1.5">{e.category}</td>
                  <td role="cell" data-label="Kind" className="py-1.5">
                    <Badge variant={e.category === 'security' ? 'destructive' : e.kind === 'online' ? 'success' : 'secondary'}>{e.kind}</Badge>
                  </td>
                  <td role="cell" data-label="Transport" className="py-1.5">{e.transport ?? '—'}</td>
                  <td role="cell" data-label="Peer" className="py-1.5 font-mono text-xs">{e.peer ?? '—'}</td>
                  <td role="cell" data-label="Detail" className="py-1.5 text-muted-foreground">{e.detail ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </CardContent>
      </Card>
    </div>
  );
}
