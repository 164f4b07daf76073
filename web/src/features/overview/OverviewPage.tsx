// Fleet overview: online/offline counts, anomalies by severity in the last 24 h, open incidents
// (new / investigating), ingest rate (from /metrics, sampled every 5 s), and the latest security
// events.
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router-dom';
import { Activity, Cpu, ShieldAlert, Siren, TriangleAlert } from 'lucide-react';
import { api, optional } from '@/api/client';
import { PageHeader } from '@/components/Layout';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Empty, ErrorState, Loading, Skeleton } from '@/components/ui/states';
import { useDevices } from '@/stores/devices';
import { useAuth, can } from '@/stores/auth';
import { counterRate, promCounter, severityCounts, statusCounts } from '@/lib/shape';
import { useAsync } from '@/lib/useAsync';
import { fmtNumber, fmtTime } from '@/lib/utils';

export default function OverviewPage() {
  const { items, loading, error, load, loadedAt } = useDevices();
  const role = useAuth((s) => s.user?.role);
  useEffect(() => {
    void load();
  }, [load]);
  const counts = useMemo(() => statusCounts(items), [items]);
  const anomalies = useAsync(() => optional(api.anomalies({ from: '-24h', limit: 1000 }), { items: [], total: 0 }), []);
  const sev = useMemo(() => severityCounts(anomalies.data?.data.items ?? []), [anomalies.data]);
  const events = useAsync(() => api.events({ category: 'security', from: '-24h', limit: 1000 }), []);
  const rate = useIngestRate(can(role, 'metrics'));
  const incidents = useAsync(
    () => Promise.all([api.incidents({ status: 'new', limit: 1 }), api.incidents({ status: 'investigating', limit: 1 })]).then(([n, i]) => ({ new: n.total ?? 0, investigating: i.total ?? 0 })),
    [],
  );

  return (
    <div className="space-y-4">
      <PageHeader title="Overview" description="Fleet health at a glance" />
      <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-5">
        <Tile icon={Cpu} title="Devices online" testId="tile-online">
          {error ? (
            <span className="text-sm text-destructive">{error}</span>
          ) : !loadedAt && loading ? (
            <Skeleton className="h-8 w-24" />
          ) : (
            <>
              <div className="text-3xl font-semibold">
                {counts.online.toLocaleString()}
                <span className="text-base font-normal text-muted-foreground"> / {counts.total.toLocaleString()}</span>
              </div>
              <p className="text-xs text-muted-foreground">{counts.offline.toLocaleString()} offline</p>
              {counts.total > 0 && (
                <div className="mt-2 flex h-2 overflow-hidden rounded bg-muted" aria-hidden>
                  <div className="bg-success" style={{ width: `${(counts.online / counts.total) * 100}%` }} />
                </div>
              )}
            </>
          )}
        </Tile>
        <Tile icon={TriangleAlert} title="Anomalies, last 24 h" testId="tile-anomalies">
          {anomalies.error ? (
            <span className="text-sm text-destructive">{anomalies.error}</span>
          ) : anomalies.loading ? (
            <Skeleton className="h-8 w-24" />
          ) : !anomalies.data?.available ? (
            <p className="text-sm text-muted-foreground">Anomaly detection results are not available on this server yet.</p>
          ) : (
            <div className="flex items-end gap-4">
              {(['critical', 'warning', 'info'] as const).map((s) => (
                <Link key={s} to="/anomalies" className="rounded focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring">
                  <div className={`text-2xl font-semibold ${s === 'critical' ? 'text-destructive' : s === 'warning' ? 'text-warning' : ''}`}>{sev[s]}</div>
                  <div className="text-xs text-muted-foreground">{s}</div>
                </Link>
              ))}
            </div>
          )}
        </Tile>
        <Tile icon={Siren} title="Open incidents" testId="tile-incidents">
          {incidents.error ? (
            <span className="text-sm text-destructive">{incidents.error}</span>
          ) : incidents.loading ? (
            <Skeleton className="h-8 w-24" />
          ) : (
            <Link to="/incidents" className="flex items-end gap-4 rounded focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring">
              <div>
                <div className={`text-2xl font-semibold ${incidents.data?.new ? 'text-destructive' : ''}`}>{incidents.data?.new ?? 0}</div>
                <div className="text-xs text-muted-foreground">new</div>
              </div>
              <div>
                <div className="text-2xl font-semibold">{incidents.data?.investigating ?? 0}</div>
                <div className="text-xs text-muted-foreground">investigating</div>
              </div>
            </Link>
          )}
        </Tile>
        <Tile icon={Activity} title="Ingest rate" testId="tile-ingest">
          {rate.error ? (
            <p className="text-sm text-muted-foreground">{rate.error}</p>
          ) : rate.value === null ? (
            <><Skeleton className="h-8 w-24" /><p className="mt-1 text-xs text-muted-foreground">measuring…</p></>
          ) : (
            <>
              <div className="text-3xl font-semibold">{fmtNumber(rate.value, 1)}</div>
              <p className="text-xs text-muted-foreground">points per second · {fmtNumber(rate.total ?? 0, 0)} total</p>
            </>
          )}
        </Tile>
        <Tile icon={ShieldAlert} title="Security events, 24 h" testId="tile-security">
          {events.error ? (
            <span className="text-sm text-destructive">{events.error}</span>
          ) : events.loading ? (
            <Skeleton className="h-8 w-24" />
          ) : (
            <>
              <div className="text-3xl font-semibold">{(events.data?.items.length ?? 0) >= 1000 ? '1000+' : events.data?.items.length ?? 0}</div>
              <Link to="/security" className="text-xs text-primary hover:underline">Open the security view</Link>
            </>
          )}
        </Tile>
      </div>
      <Card>
        <CardHeader>
          <CardTitle>Recent security events</CardTitle>
          <CardDescription>Authentication failures, ACL violations, bad payloads and unknown devices</CardDescription>
        </CardHeader>
        <CardContent>
          {events.error ? (
            <ErrorState message={events.error} onRetry={events.reload} />
          ) : events.loading ? (
            <Loading />
          ) : !events.data?.items.length ? (
            <Empty title="No security events in the last 24 hours" />
          ) : (
            <ul className="divide-y text-sm">
              {[...events.data.items].sort((a, b) => b.ts - a.ts).slice(0, 8).map((e) => (
                <li key={String(e.id)} className="flex flex-wrap items-center gap-2 py-2">
                  <Badge variant="destructive">{e.kind}</Badge>
                  {e.device_id ? (
                    <Link to={`/devices/${e.device_id}`} className="font-mono text-xs hover:underline">{e.device_id.slice(0, 8)}…</Link>
                  ) : (
                    <span className="text-xs text-muted-foreground">unknown device</span>
                  )}
                  <span className="font-mono text-xs text-muted-foreground">{e.peer}</span>
                  <span className="text-muted-foreground">{e.detail}</span>
                  <span className="ml-auto text-xs text-muted-foreground">{fmtTime(e.ts)}</span>
                </li>
              ))}
            </ul>
          )}
        </CardContent>
      </Card>
    </div>
  );
}

function Tile({ icon: Icon, title, children, testId }: { icon: React.ComponentType<{ className?: string }>; title: string; children: React.ReactNode; testId?: string }) {
  return (
    <Card data-testid={testId}>
      <CardHeader className="flex-row items-center justify-between space-y-0">
        <CardTitle className="text-muted-foreground">{title}</CardTitle>
        <Icon className="size-4 text-muted-foreground" aria-hidden />
      </CardHeader>
      <CardContent>{children}</CardContent>
    </Card>
  );
}

function useIngestRate(allowed: boolean) {
  const [state, setState] = useState<{ value: number | null; total: number | null; error: string | null }>({ value: null, total: null, error: null });
  const prev = useRef<{ v: number; at: number } | null>(null);
  useEffect(() => {
    if (!allowed) {
      setState({ value: null, total: null, error: 'Ingest metrics are visible to analysts and admins.' });
      return;
    }
    let stop = false;
    async function sample() {
      try {
        const text = await api.promMetrics();
        const v = promCounter(text, 'iotad_ingest_points_total');
        if (v === null) throw new Error('iotad_ingest_points_total missing');
        const cur = { v, at: Date.now() };
        const r = counterRate(prev.current, cur);
        prev.current = cur;
        if (!stop) setState((s) => ({ value: r ?? s.value, total: v, error: null }));
      } catch (e) {
        if (!stop) setState({ value: null, total: null, error: `Ingest rate unavailable (${(e as Error).message})` });
      }
    }
    void sample();
    const first = setTimeout(sample, 1500);
    const t = setInterval(sample, 5000);
    return () => {
      stop = true;
      clearTimeout(first);
      clearInterval(t);
    };
  }, [allowed]);
  return state;
}
