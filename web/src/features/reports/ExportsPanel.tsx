// Forensic exports: the browser streams GET /api/v1/export (NDJSON or CSV) straight to a file;
// the last record is the manifest with the SHA-256 of every byte before it, also stored (and
// anchored in the audit log) and listed here with a download of the manifest.
import { useEffect, useMemo, useState } from 'react';
import { Download, FileJson, PackageOpen } from 'lucide-react';
import { api, exportUrl } from '@/api/client';
import type { ExportRecord, ExportWhat } from '@/api/types';
import { Button } from '@/components/ui/button';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { DevicePicker } from '@/components/DevicePicker';
import { TimeRangePicker } from '@/components/TimeRangePicker';
import { resolveRange, type TimeRange } from '@/lib/range';
import { useAsync } from '@/lib/useAsync';
import { fmtTime } from '@/lib/utils';
import { can, useAuth } from '@/stores/auth';
import { fmtBytes, fmtRecords } from './reports';

const WHAT: { value: ExportWhat; label: string }[] = [
  { value: 'points', label: 'Telemetry points' },
  { value: 'anomalies', label: 'Anomalies' },
  { value: 'incidents', label: 'Incidents' },
  { value: 'events', label: 'Device events' },
  { value: 'audit', label: 'Audit log' },
];

export function ExportsPanel() {
  const role = useAuth((s) => s.user?.role);
  const what = WHAT.filter((w) => w.value !== 'audit' || can(role, 'audit'));
  const list = useAsync(() => api.exports({ limit: 50 }), []);
  const [range, setRange] = useState<TimeRange>({ preset: '24h' });
  const [device, setDevice] = useState('');
  const [deviceType, setDeviceType] = useState('');
  const [picked, setPicked] = useState<ExportWhat[]>(['points', 'anomalies', 'incidents', 'events']);
  const [format, setFormat] = useState<'ndjson' | 'csv'>('ndjson');
  const [started, setStarted] = useState(0);
  const items = list.data?.items ?? [];
  const running = items.some((x) => x.status === 'running');
  // after a start, and while one runs: the list follows until it is recorded as done
  useEffect(() => {
    if (!started && !running) return;
    const t = setInterval(() => void list.reload(), 1000);
    const stop = setTimeout(() => setStarted(0), 15000);
    return () => {
      clearInterval(t);
      clearTimeout(stop);
    };
  }, [started, running, list.reload]);
  const { from, to } = resolveRange(range);
  const href = exportUrl({ from, to, device_id: device || undefined, device_type: deviceType.trim() || undefined, what: picked, format });

  return (
    <div className="space-y-4">
      <Card>
        <CardHeader>
          <CardTitle>New forensic export</CardTitle>
          <CardDescription>Streamed to a file; its last record is a manifest with the SHA-256 of everything before it</CardDescription>
        </CardHeader>
        <CardContent className="space-y-3">
          <TimeRangePicker label="Export period" value={range} onChange={setRange} presets={['1h', '24h', '7d', '30d']} />
          <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-4">
            <div className="space-y-1.5">
              <Label htmlFor="ex-device">Device</Label>
              <DevicePicker id="ex-device" aria-label="Device" noneLabel="All devices" value={device} onChange={setDevice} />
            </div>
            <div className="space-y-1.5"><Label htmlFor="ex-type">Device type</Label><Input id="ex-type" placeholder="any" value={deviceType} onChange={(e) => setDeviceType(e.target.value)} /></div>
            <fieldset className="space-y-1.5">
              <legend className="text-sm font-medium">Format</legend>
              <div className="flex h-9 items-center gap-4 text-sm">
                {(['ndjson', 'csv'] as const).map((f) => (
                  <label key={f} className="flex items-center gap-1.5">
                    <input type="radio" name="ex-format" className="accent-[var(--primary)]" checked={format === f} onChange={() => setFormat(f)} /> {f === 'ndjson' ? 'NDJSON' : 'CSV'}
                  </label>
                ))}
              </div>
            </fieldset>
          </div>
          <fieldset>
            <legend className="mb-1 text-sm font-medium">Records</legend>
            <div className="flex flex-wrap gap-x-4 gap-y-1 text-sm">
              {what.map((w) => (
                <label key={w.value} className="flex items-center gap-1.5">
                  <input
                    type="checkbox"
                    className="size-4 accent-[var(--primary)]"
                    checked={picked.includes(w.value)}
                    onChange={(e) => setPicked(e.target.checked ? [...picked, w.value] : picked.filter((x) => x !== w.value))}
                  />
                  {w.label}
                </label>
              ))}
            </div>
          </fieldset>
          {picked.length === 0 ? (
            <p className="text-sm text-destructive" role="alert">Pick at least one kind of record.</p>
          ) : (
            <Button asChild>
              <a href={href} download onClick={() => setStarted(Date.now())} data-testid="start-export">
                <Download aria-hidden /> Start export
              </a>
            </Button>
          )}
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <CardTitle>Exports</CardTitle>
          <CardDescription>{can(role, 'admin') ? 'Everyone’s exports' : 'Your exports'}, newest first; the hash is also in the audit log</CardDescription>
        </CardHeader>
        <CardContent>
          {list.error && !list.data ? (
            <ErrorState message={list.error} onRetry={list.reload} />
          ) : !list.data ? (
            <Loading />
          ) : items.length === 0 ? (
            <Empty title="No exports yet" />
          ) : (
            <ul className="divide-y text-sm" aria-label="Exports" data-testid="export-list">
              {items.map((x) => <ExportRow key={x.id} x={x} />)}
            </ul>
          )}
        </CardContent>
      </Card>
    </div>
  );
}

function ExportRow({ x }: { x: ExportRecord }) {
  const manifest = useMemo(
    () => (x.manifest ? URL.createObjectURL(new Blob([JSON.stringify(x.manifest, null, 2)], { type: 'application/json' })) : null),
    [x.manifest],
  );
  useEffect(() => () => {
    if (manifest) URL.revokeObjectURL(manifest);
  }, [manifest]);
  return (
    <li className="flex flex-wrap items-center gap-x-3 gap-y-1 py-3" data-testid="export-row" data-status={x.status}>
      <PackageOpen className="size-4 text-muted-foreground" aria-hidden />
      <span className="font-medium">{fmtTime(x.started_at)}</span>
      <Badge variant={x.status === 'done' ? 'success' : x.status === 'running' ? 'warning' : 'destructive'}>{x.status}</Badge>
      <span className="text-muted-foreground">{x.format.toUpperCase()} · {fmtBytes(x.bytes)} · {fmtRecords(x.records)}</span>
      {x.sha256 && (
        <span className="basis-full truncate font-mono text-xs text-muted-foreground sm:basis-auto" title={x.sha256} data-testid="export-sha256">
          sha256 {x.sha256}
        </span>
      )}
      {manifest && (
        <Button size="sm" variant="ghost" className="ml-auto" asChild>
          <a href={manifest} download={`iotad-export-${x.id}-manifest.json`}><FileJson aria-hidden /> Manifest</a>
        </Button>
      )}
    </li>
  );
}
