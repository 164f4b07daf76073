// One device: metadata (edit/delete), live telemetry charts per metric with a range picker
// (live = raw last 15 min + stream; 1 h / 24 h / 7 d = server rollups), anomalies marked on the
// charts, status history, security metrics (sys.*) and API keys.
import { useEffect, useMemo, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { ArrowLeft, Pencil, Trash2 } from 'lucide-react';
import { api, optional } from '@/api/client';
import type { Anomaly, Device, DeviceEvent } from '@/api/types';
import { liveStream } from '@/api/stream';
import { PageHeader } from '@/components/Layout';
import { Button } from '@/components/ui/button';
import { Badge, SeverityBadge, StatusBadge } from '@/components/ui/badge';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { Tabs, TabsContent, TabsList, TabsTrigger } from '@/components/ui/tabs';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { TimeSeriesChart } from '@/components/TimeSeriesChart';
import { groupBuckets, groupRaw, mergeLive, RANGES, statusSpans, type RangeKey, type Series } from '@/lib/shape';
import { useAsync } from '@/lib/useAsync';
import { fmtAgo, fmtTime } from '@/lib/utils';
import { useDevices } from '@/stores/devices';
import { DeviceFormDialog } from './DeviceForm';
import { KeysPanel } from './KeysPanel';

export default function DeviceDetailPage() {
  const { id = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const tab = params.get('tab') ?? 'telemetry';
  const navigate = useNavigate();
  const { update, remove } = useDevices();
  const dev = useAsync(() => api.device(id), [id]);
  const [editing, setEditing] = useState(false);
  const storeDevice = useDevices((s) => {
    const i = s.index.get(id);
    return i === undefined ? undefined : s.items[i];
  });
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
      <p className="mb-3 font-mono text-xs text-muted-foreground">id {device.id}</p>
      <Tabs value={tab} onValueChange={(v) => setParams({ tab: v }, { replace: true })}>
        <TabsList>
          <TabsTrigger value="telemetry">Telemetry</TabsTrigger>
          <TabsTrigger value="status">Status history</TabsTrigger>
          <TabsTrigger value="security">Security</TabsTrigger>
          <TabsTrigger value="keys">API keys</TabsTrigger>
        </TabsList>
        <TabsContent value="telemetry">
          <Telemetry deviceId={device.id} security={false} />
        </TabsContent>
        <TabsContent value="status">
          <StatusHistory deviceId={device.id} />
        </TabsContent>
        <TabsContent value="security">
          <Telemetry deviceId={device.id} security />
        </TabsContent>
        <TabsContent value="keys">
          <KeysPanel deviceId={device.id} />
        </TabsContent>
      </Tabs>
      <DeviceFormDialog
        open={editing}
        onOpenChange={setEditing}
        device={device}
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

const isSys = (m: string) => m.startsWith('sys.');

function Telemetry({ deviceId, security }: { deviceId: string; security: boolean }) {
  const [range, setRange] = useState<RangeKey>('live');
  const [series, setSeries] = useState<Record<string, Series>>({});
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [anomalies, setAnomalies] = useState<Anomaly[]>([]);
  const [now, setNow] = useState(Date.now());
  const [gen, setGen] = useState(0);
  const r = RANGES[range];

  useEffect(() => {
    let cancelled = false;
    setLoading(true);
    setError(null);
    api
      .data(deviceId, { from: r.from, step: r.step === 'raw' ? undefined : r.step, limit: 20000 })
      .then((d) => {
        if (cancelled) return;
        setSeries(d.buckets ? groupBuckets(d.buckets) : groupRaw(d.points ?? []));
        setNow(Date.now());
      })
      .catch((e) => !cancelled && setError((e as Error).message))
      .finally(() => !cancelled && setLoading(false));
    optional(api.anomalies({ device_id: deviceId, from: r.from, limit: 200 }), { items: [] })
      .then((a) => !cancelled && setAnomalies(a.data.items))
      .catch(() => !cancelled && setAnomalies([]));
    return () => {
      cancelled = true;
    };
  }, [deviceId, range, r.from, r.step, gen]);

  // Live: append stream points; slide the window every second.
  useEffect(() => {
    if (range !== 'live') return;
    const off = liveStream.on((m) => {
      if (m.type === 'points' && m.device_id === deviceId) {
        setSeries((s) => mergeLive(s, m.points, r.windowMs, Date.now()));
        setNow(Date.now());
      } else if (m.type === 'anomaly' && m.anomaly?.device_id === deviceId) {
        setAnomalies((a) => [m.anomaly, ...a.filter((x) => x.id !== m.anomaly.id)]);
      }
    });
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      off();
      clearInterval(t);
    };
  }, [deviceId, range, r.windowMs]);

  const metrics = useMemo(() => Object.keys(series).filter((m) => isSys(m) === security).sort(), [series, security]);
  const xRange: [number, number] = [now - r.windowMs, now];

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-2">
        <div role="radiogroup" aria-label="Time range" className="inline-flex rounded-md border bg-card p-0.5">
          {(Object.keys(RANGES) as RangeKey[]).map((k) => (
            <button
              key={k}
              role="radio"
              aria-checked={range === k}
              onClick={() => setRange(k)}
              className={`cursor-pointer rounded px-3 py-1 text-sm focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring ${range === k ? 'bg-primary text-primary-foreground' : 'hover:bg-accent'}`}
            >
              {RANGES[k].label}
            </button>
          ))}
        </div>
        <span className="text-xs text-muted-foreground">
          {range === 'live' ? 'Raw points of the last 15 minutes, updating live' : `Rollups: ${r.step} average with min–max band`}
        </span>
      </div>
      {error ? (
        <ErrorState message={error} onRetry={() => setGen((g) => g + 1)} />
      ) : loading && metrics.length === 0 ? (
        <Loading label="Loading telemetry…" />
      ) : metrics.length === 0 ? (
        <Card>
          <Empty title={security ? 'No security metrics yet' : 'No telemetry in this range'}>
            {security
              ? 'Connection and authentication counters (sys.*) appear once the device connects.'
              : range === 'live'
                ? 'Waiting for the device to publish. New points appear here as they arrive.'
                : 'Pick another range or wait for data.'}
          </Empty>
        </Card>
      ) : (
        <div className="grid gap-3 xl:grid-cols-2">
          {metrics.map((m) => {
            const am = anomalies.filter((a) => a.metric === m);
            return (
              <Card key={m}>
                <CardHeader className="flex-row items-center justify-between">
                  <CardTitle>{m}</CardTitle>
                  {am.length > 0 && <Badge variant="destructive">{am.length} anomal{am.length === 1 ? 'y' : 'ies'}</Badge>}
                </CardHeader>
                <CardContent>
                  <TimeSeriesChart metric={m} series={series[m]} anomalies={am} xRange={xRange} />
                </CardContent>
              </Card>
            );
          })}
        </div>
      )}
      {!security && anomalies.length > 0 && (
        <Card>
          <CardHeader>
            <CardTitle>Anomalies in range</CardTitle>
          </CardHeader>
          <CardContent>
            <ul className="divide-y text-sm">
              {anomalies.slice(0, 20).map((a) => (
                <li key={a.id} className="flex flex-wrap items-center gap-2 py-2">
                  <SeverityBadge severity={a.severity} />
                  <span className="font-medium">{a.metric}</span>
                  <span className="text-muted-foreground">{a.description}</span>
                  <span className="ml-auto text-xs text-muted-foreground">{fmtTime(a.detected_at)}</span>
                </li>
              ))}
            </ul>
          </CardContent>
        </Card>
      )}
    </div>
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
          <table className="w-full text-sm">
            <thead className="text-left text-xs text-muted-foreground">
              <tr>
                <th className="py-2 font-medium">Time</th>
                <th className="py-2 font-medium">Category</th>
                <th className="py-2 font-medium">Kind</th>
                <th className="py-2 font-medium">Transport</th>
                <th className="py-2 font-medium">Peer</th>
                <th className="py-2 font-medium">Detail</th>
              </tr>
            </thead>
            <tbody>
              {events.slice(0, 200).map((e) => (
                <tr key={String(e.id)} className="border-t">
                  <td className="py-1.5 whitespace-nowrap text-muted-foreground">{fmtTime(e.ts)}</td>
                  <td className="py-1.5">{e.category}</td>
                  <td className="py-1.5">
                    <Badge variant={e.category === 'security' ? 'destructive' : e.kind === 'online' ? 'success' : 'secondary'}>{e.kind}</Badge>
                  </td>
                  <td className="py-1.5">{e.transport ?? '—'}</td>
                  <td className="py-1.5 font-mono text-xs">{e.peer ?? '—'}</td>
                  <td className="py-1.5 text-muted-foreground">{e.detail ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </CardContent>
      </Card>
    </div>
  );
}
