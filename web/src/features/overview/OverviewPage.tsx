// Fleet overview, kept current by the live stream: devices online (the fleet store follows
// device_status events), open anomalies by severity and open incidents (refetched when anomaly
// / incident events arrive, and every 30 s), the ingest rate (/metrics every 5 s), security
// events, a 24 h trend of anomalies by severity, the newest open incidents and the fleet by type
// or site. Every count links to the list it counts, filtered the same way. While the server does
// not answer, the tiles keep their last values and say they are stale.
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router-dom';
import { Activity, Cpu, ShieldAlert, Siren, TriangleAlert } from 'lucide-react';
import { api, optional } from '@/api/client';
import type { Anomaly, Device, Severity } from '@/api/types';
import { PageHeader } from '@/components/Layout';
import { Badge, SeverityBadge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Empty, ErrorState, Skeleton } from '@/components/ui/states';
import { useDeviceLabel, useDevices } from '@/stores/devices';
import { useAuth, can } from '@/stores/auth';
import { useConnection } from '@/stores/connection';
import { counterRate, fleetGroups, hourlyBySeverity, promCounter, statusCounts } from '@/lib/shape';
import { useLiveQuery } from '@/lib/useLiveQuery';
import { cn, fmtAgo, fmtNumber, fmtTime } from '@/lib/utils';

const SEVERITIES: Severity[] = ['critical', 'warning', 'info'];
const SEV_COLOR: Record<Severity, string> = { critical: 'bg-destructive', warning: 'bg-warning', info: 'bg-primary' };

export default function OverviewPage() {
  const { items, loading, error, load, partial, loadedAt: at } = useDevices();
  const loadedAt = partial ? 0 : at; // counts only over the whole fleet
  const role = useAuth((s) => s.user?.role);
  const reachable = useConnection((s) => s.reachable);
  const label = useDeviceLabel();
  useEffect(() => {
    void load();
  }, [load]);
  const counts = useMemo(() => statusCounts(items), [items]);

  // open anomalies per severity: exact totals of the list each number links to
  const open = useLiveQuery(
    async () => {
      const r = await Promise.all(SEVERITIES.map((severity) => optional(api.anomalies({ severity, resolved: false, limit: 1 }), { items: [], total: 0 })));
      return { available: r[0].available, counts: Object.fromEntries(SEVERITIES.map((s, k) => [s, r[k].data.total ?? 0])) as Record<Severity, number> };
    },
    [],
    { on: ['anomaly', 'incident'] },
  );
  const trend = useLiveQuery(() => optional(api.anomalies({ from: '-24h', limit: 1000 }), { items: [], total: 0 }), [], { on: ['anomaly'], everyMs: 60_000 });
  const incidents = useLiveQuery(
    async () => {
      const [n, i, list] = await Promise.all([api.incidents({ status: 'new', limit: 1 }), api.incidents({ status: 'investigating', limit: 1 }), api.incidents({ status: 'open', limit: 5 })]);
      return { new: n.total ?? 0, investigating: i.total ?? 0, list: list.items };
    },
    [],
    { on: ['incident'] },
  );
  const events = useLiveQuery(() => api.events({ category: 'security', from: '-24h', limit: 1000 }), [], { everyMs: 15_000 });
  const rate = useIngestRate(can(role, 'metrics'));
  const stale = (failed: unknown) => !reachable || !!failed;

  return (
    <div className="space-y-4">
      <PageHeader title="Overview" description="Fleet health, kept current as events arrive" />
      <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-5">
        <Tile icon={Cpu} title="Devices online" testId="tile-online" stale={!reachable && !!loadedAt}>
          {error && !loadedAt ? (
            <span className="text-sm text-destructive">{error}</span>
          ) : !loadedAt && loading ? (
            <Skeleton className="h-8 w-24" />
          ) : (
            <Link to="/devices" className="block rounded focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring">
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
            </Link>
          )}
        </Tile>
        <Tile icon={TriangleAlert} title="Open anomalies" testId="tile-anomalies" stale={!!open.data && stale(open.error)}>
          {!open.data ? (
            open.error ? <span className="text-sm text-destructive">{open.error}</span> : <Skeleton className="h-8 w-24" />
          ) : !open.data.available ? (
            <p className="text-sm text-muted-foreground">Anomaly detection results are not available on this server yet.</p>
          ) : (
            <div className="flex items-end gap-4">
              {SEVERITIES.map((s) => (
                <Link
                  key={s}
                  to={`/anomalies?severity=${s}&state=open`}
                  data-testid={`open-${s}`}
                  className="rounded focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
                >
                  <div className={`text-2xl font-semibold ${s === 'critical' && open.data!.counts[s] ? 'text-destructive' : s === 'warning' && open.data!.counts[s] ? 'text-amber-700 dark:text-amber-300' : ''}`}>
                    {open.data!.counts[s].toLocaleString()}
                  </div>
                  <div className="text-xs text-muted-foreground">{s}<span className="sr-only"> open anomalies</span></div>
                </Link>
              ))}
            </div>
          )}
        </Tile>
        <Tile icon={Siren} title="Open incidents" testId="tile-incidents" stale={!!incidents.data && stale(incidents.error)}>
          {!incidents.data ? (
            incidents.error ? <span className="text-sm text-destructive">{incidents.error}</span> : <Skeleton className="h-8 w-24" />
          ) : (
            <div className="flex items-end gap-4">
              {(['new', 'investigating'] as const).map((st) => (
                <Link key={st} to={`/incidents?status=${st}`} className="rounded focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring">
                  <div className={`text-2xl font-semibold ${st === 'new' && incidents.data![st] ? 'text-destructive' : ''}`}>{incidents.data![st]}</div>
                  <div className="text-xs text-muted-foreground">{st}</div>
                </Link>
              ))}
            </div>
          )}
        </Tile>
        <Tile icon={Activity} title="Ingest rate" testId="tile-ingest" stale={rate.value !== null && !reachable}>
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
        <Tile icon={ShieldAlert} title="Security events, 24 h" testId="tile-security" stale={!!events.data && stale(events.error)}>
          {!events.data ? (
            events.error ? <span className="text-sm text-destructive">{events.error}</span> : <Skeleton className="h-8 w-24" />
          ) : (
            <>
              <div className="text-3xl font-semibold">{events.data.items.length >= 1000 ? '1000+' : events.data.items.length}</div>
              <Link to="/security" className="text-xs text-primary hover:underline">Open the security view</Link>
            </>
          )}
        </Tile>
      </div>
      <div className="grid gap-3 lg:grid-cols-2">
        <Card>
          <CardHeader>
            <CardTitle>Anomalies, last 24 h</CardTitle>
            <CardDescription>Detected per hour, by severity</CardDescription>
          </CardHeader>
          <CardContent>
            {!trend.data ? (
              trend.error ? <ErrorState message={trend.error} onRetry={trend.reload} /> : <Skeleton className="h-32 w-full" />
            ) : (
              <AnomalyTrend items={trend.data.data.items} total={trend.data.data.total ?? 0} />
            )}
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Open incidents</CardTitle>
            <CardDescription>Newest first</CardDescription>
          </CardHeader>
          <CardContent>
            {!incidents.data ? (
              incidents.error ? <ErrorState message={incidents.error} onRetry={incidents.reload} /> : <Skeleton className="h-32 w-full" />
            ) : incidents.data.list.length === 0 ? (
              <Empty title="No open incidents" />
            ) : (
              <ul className="divide-y text-sm" data-testid="open-incidents">
                {incidents.data.list.map((i) => (
                  <li key={i.id} className="flex min-w-0 items-center gap-2 py-2">
                    <SeverityBadge severity={i.severity} />
                    <Link to={`/incidents/${i.id}`} className="min-w-0 flex-1 truncate font-medium hover:underline">{i.title}</Link>
                    <span className="hidden shrink-0 text-xs text-muted-foreground sm:inline">{i.device_id ? label(i.device_id, i.device_name) : ''}</span>
                    <span className="shrink-0 text-xs text-muted-foreground">{fmtAgo(i.created_at)}</span>
                  </li>
                ))}
              </ul>
            )}
          </CardContent>
        </Card>
      </div>
      <div className="grid gap-3 lg:grid-cols-2">
        <FleetGroups items={items} loaded={!!loadedAt} />
        <Card>
          <CardHeader>
            <CardTitle>Recent security events</CardTitle>
            <CardDescription>Authentication failures, ACL violations, bad payloads and unknown devices</CardDescription>
          </CardHeader>
          <CardContent>
            {!events.data ? (
              events.error ? <ErrorState message={events.error} onRetry={events.reload} /> : <Skeleton className="h-32 w-full" />
            ) : !events.data.items.length ? (
              <Empty title="No security events in the last 24 hours" />
            ) : (
              <ul className="divide-y text-sm" data-testid="security-events">
                {[...events.data.items].sort((a, b) => b.ts - a.ts).slice(0, 8).map((e) => (
                  <li key={String(e.id)} className="flex flex-wrap items-center gap-2 py-2">
                    <Badge variant="destructive">{e.kind.replace(/_/g, ' ')}</Badge>
                    {e.device_id ? (
                      <Link to={`/devices/${e.device_id}`} className="max-w-48 truncate text-xs font-medium hover:underline">{label(e.device_id)}</Link>
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
    </div>
  );
}

function Tile({ icon: Icon, title, children, testId, stale }: { icon: React.ComponentType<{ className?: string }>; title: string; children: React.ReactNode; testId?: string; stale?: boolean }) {
  return (
    <Card data-testid={testId} data-stale={stale || undefined} className={cn(stale && 'border-dashed')}>
      <CardHeader className="flex-row items-center justify-between space-y-0">
        <CardTitle className="text-muted-foreground">{title}</CardTitle>
        {stale ? <Badge variant="warning" title="The server does not answer: this is the last value known">stale</Badge> : <Icon className="size-4 text-muted-foreground" aria-hidden />}
      </CardHeader>
      <CardContent className={cn(stale && 'opacity-60')}>{children}</CardContent>
    </Card>
  );
}

function AnomalyTrend({ items, total }: { items: Anomaly[]; total: number }) {
  const now = useMemo(() => Date.now(), [items]);
  const bins = useMemo(() => hourlyBySeverity(items, now), [items, now]);
  const max = Math.max(1, ...bins.map((b) => b.critical + b.warning + b.info));
  const sum = (s: Severity) => bins.reduce((n, b) => n + b[s], 0);
  if (items.length === 0) return <Empty title="No anomalies in the last 24 hours" />;
  return (
    <div>
      <div className="flex h-32 items-end gap-0.5" role="img" aria-label={`Anomalies per hour over the last 24 hours: ${sum('critical')} critical, ${sum('warning')} warning, ${sum('info')} info`} data-testid="anomaly-trend">
        {bins.map((b, k) => (
          <div key={k} className="flex h-full flex-1 flex-col-reverse" title={`${new Date(now - (24 - k) * 3_600_000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}: ${b.critical} critical, ${b.warning} warning, ${b.info} info`}>
            {SEVERITIES.map((s) => (b[s] ? <div key={s} className={SEV_COLOR[s]} style={{ height: `${(b[s] / max) * 100}%` }} /> : null))}
          </div>
        ))}
      </div>
      <div className="mt-2 flex flex-wrap items-center gap-3 text-xs text-muted-foreground">
        {SEVERITIES.map((s) => (
          <span key={s} className="inline-flex items-center gap-1">
            <span className={cn('size-2 rounded-sm', SEV_COLOR[s])} aria-hidden /> {s} {sum(s)}
          </span>
        ))}
        <span className="ml-auto">24 h ago → now{total > items.length ? ` · newest ${items.length} of ${total}` : ''}</span>
      </div>
    </div>
  );
}

function FleetGroups({ items, loaded }: { items: Device[]; loaded: boolean }) {
  const [by, setBy] = useState<'type' | 'site'>('type');
  const groups = useMemo(() => fleetGroups(items, by).slice(0, 12), [items, by]);
  return (
    <Card>
      <CardHeader className="flex-row items-start justify-between gap-2">
        <div>
          <CardTitle>Fleet by {by}</CardTitle>
          <CardDescription>Devices online of all, per {by}</CardDescription>
        </div>
        <div role="radiogroup" aria-label="Group the fleet by" className="inline-flex rounded-md border bg-card p-0.5">
          {(['type', 'site'] as const).map((k) => (
            <button key={k} role="radio" aria-checked={by === k} onClick={() => setBy(k)} className={`cursor-pointer rounded px-2 py-0.5 text-xs focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring ${by === k ? 'bg-primary text-primary-foreground' : 'hover:bg-accent'}`}>
              {k === 'type' ? 'Type' : 'Site'}
            </button>
          ))}
        </div>
      </CardHeader>
      <CardContent>
        {!loaded ? (
          <Skeleton className="h-32 w-full" />
        ) : groups.length === 0 ? (
          <Empty title="No devices yet" />
        ) : (
          <ul className="space-y-1.5 text-sm" data-testid="fleet-groups">
            {groups.map((g) => (
              <li key={g.key} className="grid grid-cols-[minmax(0,10rem)_1fr_auto] items-center gap-2">
                <span className="truncate" title={g.key}>{g.key.replace(/_/g, ' ')}</span>
                <span className="flex h-2 overflow-hidden rounded bg-muted" aria-hidden>
                  <span className="bg-success" style={{ width: `${(g.online / g.total) * 100}%` }} />
                </span>
                <span className="text-xs tabular-nums text-muted-foreground">{g.online} / {g.total}</span>
              </li>
            ))}
          </ul>
        )}
      </CardContent>
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
        // keep the last rate on screen while the server is away (the tile says it is stale)
        if (!stop) setState((s) => (s.value !== null ? s : { value: null, total: null, error: `Ingest rate unavailable (${(e as Error).message})` }));
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
