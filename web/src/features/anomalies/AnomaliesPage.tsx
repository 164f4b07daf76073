// Anomaly feed: filters (severity, open/resolved, device), live additions from the stream, an
// explanation panel per anomaly (score, value vs expected range, detector scores), the
// confirm / false-positive verdict for analysts and admins, and "open an incident" from one or
// several selected anomalies. `?id=` (the link in alert messages) opens that anomaly's explanation.
import { useEffect, useMemo, useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { Check, RefreshCw, Siren, X } from 'lucide-react';
import { api } from '@/api/client';
import type { Anomaly } from '@/api/types';
import { PageHeader } from '@/components/Layout';
import { Button } from '@/components/ui/button';
import { Badge, SeverityBadge } from '@/components/ui/badge';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { NativeSelect } from '@/components/ui/input';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { useAnomalies } from '@/stores/anomalies';
import { useAuth, can } from '@/stores/auth';
import { useDevices } from '@/stores/devices';
import { fmtNumber, fmtTime } from '@/lib/utils';
import { NewIncidentDialog } from '@/features/incidents/NewIncidentDialog';

export default function AnomaliesPage() {
  const { items, available, loading, error, filter, setFilter, load, resolve } = useAnomalies();
  const role = useAuth((s) => s.user?.role);
  const devices = useDevices();
  const [params] = useSearchParams();
  const [selected, setSelected] = useState<string | null>(params.get('id'));
  const [linked, setLinked] = useState<Anomaly | null>(null); // ?id= not in the current list
  const [picked, setPicked] = useState<Set<string>>(() => new Set());
  const [creating, setCreating] = useState(false);
  const [opError, setOpError] = useState<string | null>(null);
  useEffect(() => {
    void load();
    void devices.load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const idParam = params.get('id');
  useEffect(() => {
    if (!idParam) return;
    setSelected(idParam);
    api.anomaly(idParam).then(setLinked, (e) => setOpError((e as Error).message));
  }, [idParam]);
  const nameOf = useMemo(() => {
    const m = new Map(devices.items.map((d) => [d.id, d.name]));
    return (id: string) => m.get(id) ?? id.slice(0, 8) + '…';
  }, [devices.items]);
  const sel = items.find((a) => a.id === selected) ?? (linked && linked.id === selected ? linked : null);
  const canWork = can(role, 'work_anomalies');
  const canOpenIncident = can(role, 'work_incidents');
  // live anomalies carry no device name: take it from the fleet for the incident title
  const pickedList = items.filter((a) => picked.has(a.id)).map((a) => (a.device_name ? a : { ...a, device_name: nameOf(a.device_id) }));
  const toggle = (id: string) =>
    setPicked((p) => {
      const n = new Set(p);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });

  return (
    <div className="space-y-3">
      <PageHeader title="Anomalies" description="Detected as data arrives; new ones appear here live">
        <Button variant="outline" onClick={() => load()} aria-label="Reload anomalies">
          <RefreshCw className={loading ? 'animate-spin' : ''} />
        </Button>
      </PageHeader>
      <div className="flex flex-wrap gap-2">
        <NativeSelect className="w-40" aria-label="Severity" value={filter.severity} onChange={(e) => setFilter({ severity: e.target.value as typeof filter.severity })}>
          <option value="">All severities</option>
          <option value="critical">Critical</option>
          <option value="warning">Warning</option>
          <option value="info">Info</option>
        </NativeSelect>
        <NativeSelect className="w-36" aria-label="State" value={filter.resolved} onChange={(e) => setFilter({ resolved: e.target.value as typeof filter.resolved })}>
          <option value="false">Open</option>
          <option value="true">Resolved</option>
          <option value="">All</option>
        </NativeSelect>
        <NativeSelect className="w-56" aria-label="Device" value={filter.device_id} onChange={(e) => setFilter({ device_id: e.target.value })}>
          <option value="">All devices</option>
          {devices.items.slice(0, 2000).map((d) => <option key={d.id} value={d.id}>{d.name}</option>)}
        </NativeSelect>
      </div>
      {canOpenIncident && items.length > 0 && (
        <div className="flex min-h-9 flex-wrap items-center gap-2 text-sm" data-testid="anomaly-selection">
          {pickedList.length === 0 ? (
            <span className="text-muted-foreground">Select anomalies to open an incident from them.</span>
          ) : (
            <>
              <span role="status">{pickedList.length} selected</span>
              <Button size="sm" onClick={() => setCreating(true)}><Siren aria-hidden /> Open incident</Button>
              <Button size="sm" variant="ghost" onClick={() => setPicked(new Set())}>Clear selection</Button>
            </>
          )}
        </div>
      )}
      {opError && <p role="alert" className="text-sm text-destructive">{opError}</p>}
      <div className="grid gap-3 lg:grid-cols-[1fr_380px]">
        <Card className="min-w-0">
          {error ? (
            <ErrorState message={error} onRetry={load} />
          ) : loading && items.length === 0 ? (
            <Loading />
          ) : !available ? (
            <Empty title="Anomaly detection is not available yet">This server does not expose the anomalies API yet. Telemetry and security events still work.</Empty>
          ) : items.length === 0 ? (
            <Empty title="No anomalies match">Nothing unusual was detected for these filters.</Empty>
          ) : (
            <ul className="divide-y" aria-label="Anomalies">
              {items.map((a) => (
                <li key={a.id} className="flex items-stretch">
                  {canOpenIncident && (
                    <label className="flex cursor-pointer items-center pl-4 pr-1">
                      <input
                        type="checkbox"
                        className="size-4 accent-[var(--primary)]"
                        checked={picked.has(a.id)}
                        onChange={() => toggle(a.id)}
                        aria-label={`Select ${a.device_name ?? nameOf(a.device_id)} ${a.metric} at ${fmtTime(a.detected_at)}`}
                      />
                    </label>
                  )}
                  <button
                    onClick={() => setSelected(a.id)}
                    aria-pressed={selected === a.id}
                    className={`flex min-w-0 flex-1 cursor-pointer flex-wrap items-center gap-2 px-4 py-3 text-left text-sm hover:bg-accent/60 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-ring ${selected === a.id ? 'bg-accent' : ''}`}
                  >
                    <SeverityBadge severity={a.severity} />
                    <span className="font-medium">{a.device_name ?? nameOf(a.device_id)}</span>
                    <span className="text-muted-foreground">{a.metric}</span>
                    {a.resolved && <Badge variant="secondary">{a.verdict === 'false_positive' ? 'false positive' : a.verdict ?? 'resolved'}</Badge>}
                    <span className="ml-auto text-xs text-muted-foreground">{fmtTime(a.detected_at)}</span>
                    <span className="basis-full truncate text-muted-foreground">{a.description}</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card className="h-fit">
          <CardHeader>
            <CardTitle>Explanation</CardTitle>
          </CardHeader>
          <CardContent>
            {!sel ? (
              <p className="text-sm text-muted-foreground">Select an anomaly to see why it was flagged.</p>
            ) : (
              <Explanation
                a={sel}
                deviceName={sel.device_name ?? nameOf(sel.device_id)}
                canWork={canWork}
                onVerdict={async (v) => {
                  setOpError(null);
                  try {
                    await resolve(sel.id, v);
                  } catch (e) {
                    setOpError((e as Error).message);
                  }
                }}
              />
            )}
          </CardContent>
        </Card>
      </div>
      {canOpenIncident && (
        <NewIncidentDialog anomalies={pickedList} open={creating} onOpenChange={setCreating} onCreated={() => setPicked(new Set())} />
      )}
    </div>
  );
}

function Explanation({ a, deviceName, canWork, onVerdict }: { a: Anomaly; deviceName: string; canWork: boolean; onVerdict: (v: 'confirmed' | 'false_positive') => void }) {
  const d = a.details ?? {};
  return (
    <div className="space-y-3 text-sm">
      <p>{a.description}</p>
      <dl className="grid grid-cols-2 gap-x-3 gap-y-1">
        <dt className="text-muted-foreground">Device</dt>
        <dd><Link className="text-primary hover:underline" to={`/devices/${a.device_id}`}>{deviceName}</Link></dd>
        <dt className="text-muted-foreground">Metric</dt>
        <dd>{a.metric}</dd>
        <dt className="text-muted-foreground">Value</dt>
        <dd>{fmtNumber(d.value as number | undefined)}</dd>
        <dt className="text-muted-foreground">Expected</dt>
        <dd>{d.expected_lo != null && d.expected_hi != null ? `${fmtNumber(d.expected_lo)} – ${fmtNumber(d.expected_hi)}` : '—'}</dd>
        <dt className="text-muted-foreground">Score</dt>
        <dd>{fmtNumber(d.score as number | undefined, 3)}</dd>
      </dl>
      {Array.isArray(d.detectors) && d.detectors.length > 0 && (
        <div>
          <p className="mb-1 text-xs font-medium text-muted-foreground">Detectors</p>
          <ul className="space-y-1">
            {d.detectors.map((x) => (
              <li key={x.name} className="flex items-center gap-2">
                <span className="w-28 truncate">{x.name}</span>
                <div className="h-2 flex-1 rounded bg-muted" aria-hidden>
                  <div className="h-2 rounded bg-primary" style={{ width: `${Math.min(100, Math.max(0, x.score * 100))}%` }} />
                </div>
                <span className="w-12 text-right tabular-nums">{fmtNumber(x.score, 2)}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
      {a.resolved ? (
        <p className="text-muted-foreground">Resolved {fmtTime(a.resolved_at)} as {a.verdict === 'false_positive' ? 'false positive' : a.verdict ?? '—'}.</p>
      ) : canWork ? (
        <div className="flex gap-2">
          <Button size="sm" onClick={() => onVerdict('confirmed')}><Check aria-hidden /> Confirm</Button>
          <Button size="sm" variant="outline" onClick={() => onVerdict('false_positive')}><X aria-hidden /> False positive</Button>
        </div>
      ) : null}
    </div>
  );
}
