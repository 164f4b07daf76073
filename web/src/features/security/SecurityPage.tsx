// Security view built from security events: counts per kind, top offending devices and source
// addresses, a device x time heatmap and the latest events as a breach timeline.
import { useEffect, useMemo, useState } from 'react';
import { Link } from 'react-router-dom';
import { RefreshCw } from 'lucide-react';
import { api } from '@/api/client';
import type { DeviceEvent } from '@/api/types';
import { PageHeader } from '@/components/Layout';
import { Button } from '@/components/ui/button';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { useDeviceLabel, useDevices } from '@/stores/devices';
import { eventHeatmap, topOffenders, type Heatmap } from '@/lib/shape';
import { useAsync } from '@/lib/useAsync';
import { fmtTime } from '@/lib/utils';

const KINDS = [
  { kind: 'auth_failure', label: 'Auth failures' },
  { kind: 'acl_violation', label: 'ACL violations' },
  { kind: 'bad_payload', label: 'Bad payloads' },
  { kind: 'unknown_device', label: 'Unknown devices' },
  { kind: 'revoked_key', label: 'Revoked keys used' },
];
const WINDOWS = { '1h': { ms: 3_600_000, bins: 30 }, '24h': { ms: 86_400_000, bins: 24 }, '7d': { ms: 7 * 86_400_000, bins: 28 } } as const;
type Win = keyof typeof WINDOWS;

export default function SecurityPage() {
  const [win, setWin] = useState<Win>('24h');
  const { data, loading, error, reload } = useAsync(() => api.events({ category: 'security', from: `-${win}`, limit: 5000 }), [win]);
  const loadDevices = useDevices((s) => s.load);
  useEffect(() => {
    void loadDevices();
  }, [loadDevices]);
  const events: DeviceEvent[] = useMemo(() => data?.items ?? [], [data]);
  const nameOf = useDeviceLabel();
  const byKind = useMemo(() => {
    const c: Record<string, number> = {};
    for (const e of events) c[e.kind] = (c[e.kind] ?? 0) + 1;
    return c;
  }, [events]);
  const topDevices = useMemo(() => topOffenders(events, (e) => e.device_id, 8), [events]);
  const topPeers = useMemo(() => topOffenders(events, (e) => e.peer?.replace(/:\d+$/, ''), 8), [events]);
  const heat = useMemo(() => {
    const to = Date.now();
    return eventHeatmap(events, to - WINDOWS[win].ms, to, WINDOWS[win].bins, 15);
  }, [events, win]);

  return (
    <div className="space-y-4">
      <PageHeader title="Security" description="Authentication failures, ACL violations, bad payloads and where they come from">
        <div role="radiogroup" aria-label="Time window" className="inline-flex rounded-md border bg-card p-0.5">
          {(Object.keys(WINDOWS) as Win[]).map((k) => (
            <button key={k} role="radio" aria-checked={win === k} onClick={() => setWin(k)} className={`cursor-pointer rounded px-3 py-1 text-sm focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring ${win === k ? 'bg-primary text-primary-foreground' : 'hover:bg-accent'}`}>
              {k}
            </button>
          ))}
        </div>
        <Button variant="outline" onClick={reload} aria-label="Reload security events">
          <RefreshCw className={loading ? 'animate-spin' : ''} />
        </Button>
      </PageHeader>
      {error ? (
        <ErrorState message={error} onRetry={reload} />
      ) : loading && !data ? (
        <Loading label="Loading security events…" />
      ) : (
        <>
          <div className="grid gap-3 sm:grid-cols-3 xl:grid-cols-5">
            {KINDS.map((k) => (
              <Card key={k.kind} data-testid={`sec-${k.kind}`}>
                <CardHeader><CardTitle className="text-muted-foreground">{k.label}</CardTitle></CardHeader>
                <CardContent>
                  <div className={`text-3xl font-semibold ${byKind[k.kind] ? 'text-destructive' : ''}`}>{byKind[k.kind] ?? 0}</div>
                </CardContent>
              </Card>
            ))}
          </div>
          {events.length === 0 ? (
            <Card><Empty title={`No security events in the last ${win}`}>Failed logins of devices, topic violations and malformed payloads show up here.</Empty></Card>
          ) : (
            <>
              <div className="grid gap-3 lg:grid-cols-2">
                <TopList title="Top offending devices" rows={topDevices.map((t) => ({ ...t, label: nameOf(t.key), href: `/devices/${t.key}` }))} />
                <TopList title="Top source addresses" rows={topPeers.map((t) => ({ ...t, label: t.key }))} />
              </div>
              <Card>
                <CardHeader>
                  <CardTitle>Device × time</CardTitle>
                  <CardDescription>Security events per device; darker = more</CardDescription>
                </CardHeader>
                <CardContent><HeatmapGrid heat={heat} nameOf={nameOf} /></CardContent>
              </Card>
              <Card>
                <CardHeader><CardTitle>Timeline</CardTitle><CardDescription>Most recent first</CardDescription></CardHeader>
                <CardContent>
                  <ol className="relative space-y-2 border-l pl-4 text-sm">
                    {[...events].sort((a, b) => b.ts - a.ts).slice(0, 50).map((e) => (
                      <li key={String(e.id)} className="flex flex-wrap items-center gap-2">
                        <span aria-hidden className="absolute -left-1 mt-0.5 size-2 rounded-full bg-destructive" />
                        <span className="w-44 text-xs text-muted-foreground">{fmtTime(e.ts)}</span>
                        <Badge variant="destructive">{e.kind}</Badge>
                        {e.device_id && <Link to={`/devices/${e.device_id}`} className="hover:underline">{nameOf(e.device_id)}</Link>}
                        <span className="font-mono text-xs text-muted-foreground">{e.transport} {e.peer}</span>
                        <span className="text-muted-foreground">{e.detail}</span>
                      </li>
                    ))}
                  </ol>
                </CardContent>
              </Card>
            </>
          )}
        </>
      )}
    </div>
  );
}

function TopList({ title, rows }: { title: string; rows: { key: string; label: string; count: number; href?: string }[] }) {
  const max = Math.max(1, ...rows.map((r) => r.count));
  return (
    <Card>
      <CardHeader><CardTitle>{title}</CardTitle></CardHeader>
      <CardContent>
        {rows.length === 0 ? (
          <p className="text-sm text-muted-foreground">None</p>
        ) : (
          <ul className="space-y-1.5 text-sm">
            {rows.map((r) => (
              <li key={r.key} className="flex items-center gap-2">
                <span className="w-40 truncate">{r.href ? <Link to={r.href} className="hover:underline">{r.label}</Link> : <span className="font-mono text-xs">{r.label}</span>}</span>
                <div className="h-2 flex-1 rounded bg-muted" aria-hidden><div className="h-2 rounded bg-destructive/70" style={{ width: `${(r.count / max) * 100}%` }} /></div>
                <span className="w-10 text-right tabular-nums">{r.count}</span>
              </li>
            ))}
          </ul>
        )}
      </CardContent>
    </Card>
  );
}

function HeatmapGrid({ heat, nameOf }: { heat: Heatmap; nameOf: (id: string) => string }) {
  if (heat.rows.length === 0) return <p className="text-sm text-muted-foreground">No events attributed to a device.</p>;
  return (
    <div className="relative overflow-x-auto">
      <table className="border-separate border-spacing-0.5 text-xs" aria-label="Security events per device and time bin">
        <thead>
          <tr>
            <th scope="col" className="sr-only">Device</th>
            {Array.from({ length: heat.bins }, (_, b) => (
              <th scope="col" key={b} className="h-4 w-5 font-normal text-muted-foreground">
                <span className="sr-only">{fmtTime(heat.from + b * heat.binMs)}</span>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {heat.rows.map((id, r) => (
            <tr key={id}>
              <th scope="row" className="max-w-36 truncate pr-2 text-left font-normal">{nameOf(id)}</th>
              {heat.cells[r].map((v, b) => (
                <td
                  key={b}
                  title={`${nameOf(id)} · ${fmtTime(heat.from + b * heat.binMs)}: ${v}`}
                  className="h-5 w-5 rounded-sm"
                  style={{ background: v ? `color-mix(in oklab, var(--destructive) ${Math.round(20 + (80 * v) / heat.max)}%, transparent)` : 'var(--muted)' }}
                >
                  <span className="sr-only">{v}</span>
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <p className="mt-1 text-xs text-muted-foreground">{fmtTime(heat.from)} → now, {Math.round(heat.binMs / 60000)} min per column</p>
    </div>
  );
}
