// The threshold-rules editor (list, create, enable/disable, delete) on the Alerts page. Rules
// raise anomalies; policies turn anomalies into alerts. Read-only for device owners.
import { useEffect, useState } from 'react';
import { Loader2, Plus, Trash2 } from 'lucide-react';
import { api, optional } from '@/api/client';
import type { Rule, RuleInput, RuleKind, Severity } from '@/api/types';
import { Button } from '@/components/ui/button';
import { SeverityBadge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Input, NativeSelect } from '@/components/ui/input';
import { DevicePicker } from '@/components/DevicePicker';
import { Label } from '@/components/ui/label';
import { Switch } from '@/components/ui/switch';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { useAsync } from '@/lib/useAsync';
import { useAuth, can } from '@/stores/auth';
import { useDeviceLabel, useDevices } from '@/stores/devices';

const KIND_TEXT: Record<RuleKind, string> = { above: 'above', below: 'below', rate: 'changes faster than', stale: 'silent for' };

export function describeRule(r: Pick<Rule, 'metric' | 'kind' | 'threshold' | 'for_ms'>): string {
  const forS = r.for_ms ? ` for ${Math.round(r.for_ms / 1000)} s` : '';
  if (r.kind === 'stale') return `${r.metric} receives no data${forS || ''}`;
  return `${r.metric} ${KIND_TEXT[r.kind] ?? r.kind} ${r.threshold ?? '?'}${forS}`;
}

export function RulesPanel() {
  const role = useAuth((s) => s.user?.role);
  const canWrite = can(role, 'work_anomalies');
  const { data, loading, error, reload } = useAsync(() => optional(api.rules(), { items: [] }), []);
  const loadDevices = useDevices((s) => s.load);
  useEffect(() => {
    void loadDevices();
  }, [loadDevices]);
  const deviceName = useDeviceLabel();
  const [opError, setOpError] = useState<string | null>(null);
  async function run(fn: () => Promise<unknown>) {
    setOpError(null);
    try {
      await fn();
      await reload();
    } catch (e) {
      setOpError((e as Error).message);
    }
  }
  const rules = data?.data.items ?? [];
  return (
    <div className="space-y-4">
      {canWrite && data?.available && <NewRule onCreate={(r) => run(() => api.createRule(r))} />}
      <Card>
        <CardHeader>
          <CardTitle>Rules</CardTitle>
          <CardDescription>Evaluated on every point as it arrives</CardDescription>
        </CardHeader>
        <CardContent>
          {opError && <p role="alert" className="mb-2 text-sm text-destructive">{opError}</p>}
          {error ? (
            <ErrorState message={error} onRetry={reload} />
          ) : loading && !data ? (
            <Loading />
          ) : !data?.available ? (
            <Empty title="Rules are not available on this server yet" />
          ) : rules.length === 0 ? (
            <Empty title="No rules yet">{canWrite ? 'Add one above.' : 'An analyst can add rules.'}</Empty>
          ) : (
            <div className="relative overflow-x-auto">
              <table role="table" className="card-table w-full text-sm">
                <thead role="rowgroup" className="text-left text-xs text-muted-foreground">
                  <tr role="row">
                    <th role="columnheader" className="py-2 font-medium">Name</th>
                    <th role="columnheader" className="py-2 font-medium">Condition</th>
                    <th role="columnheader" className="py-2 font-medium">Applies to</th>
                    <th role="columnheader" className="py-2 font-medium">Severity</th>
                    <th role="columnheader" className="py-2 font-medium">Enabled</th>
                    <th role="columnheader" className="py-2"><span className="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody role="rowgroup">
                  {rules.map((r) => (
                    <tr role="row" key={String(r.id)} className="border-t" data-testid="rule-row">
                      <td role="cell" data-label="Name" className="py-2 font-medium">{r.name}</td>
                      <td role="cell" data-label="Condition" className="py-2">{describeRule(r)}</td>
                      <td role="cell" data-label="Applies to" className="py-2 text-muted-foreground">
                        {r.device_id ? deviceName(r.device_id) : r.device_type ? `type ${r.device_type}` : 'all devices'}
                      </td>
                      <td role="cell" data-label="Severity" className="py-2"><SeverityBadge severity={r.severity} /></td>
                      <td role="cell" data-label="Enabled" className="py-2">
                        <Switch checked={r.enabled} disabled={!canWrite} aria-label={`Rule ${r.name} enabled`} onCheckedChange={(on) => run(() => api.updateRule(r.id, { enabled: on }))} />
                      </td>
                      <td role="cell" data-label="" className="py-2 text-right">
                        {canWrite && (
                          <Button variant="ghost" size="sm" className="text-destructive" aria-label={`Delete rule ${r.name}`} onClick={() => confirm(`Delete rule ${r.name}?`) && run(() => api.deleteRule(r.id))}>
                            <Trash2 aria-hidden />
                          </Button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </CardContent>
      </Card>
    </div>
  );
}

function NewRule({ onCreate }: { onCreate: (r: RuleInput) => Promise<void> }) {
  const [f, setF] = useState({ name: '', device_id: '', metric: '', kind: 'above' as RuleKind, threshold: '', for_s: '0', severity: 'warning' as Severity });
  const [busy, setBusy] = useState(false);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    try {
      await onCreate({
        name: f.name.trim(),
        device_id: f.device_id || null,
        metric: f.metric.trim(),
        kind: f.kind,
        threshold: f.kind === 'stale' ? null : Number(f.threshold),
        for_ms: Math.max(0, Math.round(Number(f.for_s) * 1000)) || 0,
        severity: f.severity,
        enabled: true,
      });
      setF({ ...f, name: '', metric: '', threshold: '' });
    } finally {
      setBusy(false);
    }
  }
  return (
    <Card>
      <CardHeader><CardTitle>New rule</CardTitle></CardHeader>
      <CardContent>
        <form onSubmit={submit} className="grid gap-3 sm:grid-cols-2 lg:grid-cols-4">
          <div className="space-y-1.5"><Label htmlFor="r-name">Name</Label><Input id="r-name" required value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} /></div>
          <div className="space-y-1.5">
            <Label htmlFor="r-device">Device</Label>
            <DevicePicker id="r-device" aria-label="Device" noneLabel="All devices" value={f.device_id} onChange={(id) => setF({ ...f, device_id: id })} />
          </div>
          <div className="space-y-1.5"><Label htmlFor="r-metric">Metric</Label><Input id="r-metric" required placeholder="temp" value={f.metric} onChange={(e) => setF({ ...f, metric: e.target.value })} /></div>
          <div className="space-y-1.5">
            <Label htmlFor="r-kind">Condition</Label>
            <NativeSelect id="r-kind" value={f.kind} onChange={(e) => setF({ ...f, kind: e.target.value as RuleKind })}>
              <option value="above">Above threshold</option>
              <option value="below">Below threshold</option>
              <option value="rate">Rate of change above</option>
              <option value="stale">No data (stale)</option>
            </NativeSelect>
          </div>
          <div className="space-y-1.5"><Label htmlFor="r-threshold">Threshold</Label><Input id="r-threshold" type="number" step="any" required={f.kind !== 'stale'} disabled={f.kind === 'stale'} value={f.threshold} onChange={(e) => setF({ ...f, threshold: e.target.value })} /></div>
          <div className="space-y-1.5"><Label htmlFor="r-for">For (seconds)</Label><Input id="r-for" type="number" min={0} value={f.for_s} onChange={(e) => setF({ ...f, for_s: e.target.value })} /></div>
          <div className="space-y-1.5">
            <Label htmlFor="r-severity">Severity</Label>
            <NativeSelect id="r-severity" value={f.severity} onChange={(e) => setF({ ...f, severity: e.target.value as Severity })}>
              <option value="critical">Critical</option>
              <option value="warning">Warning</option>
              <option value="info">Info</option>
            </NativeSelect>
          </div>
          <div className="flex items-end">
            <Button type="submit" disabled={busy} className="w-full">{busy ? <Loader2 className="animate-spin" aria-hidden /> : <Plus aria-hidden />} Add rule</Button>
          </div>
        </form>
      </CardContent>
    </Card>
  );
}
