// Delivery settings (Admin): dashboard link base, SSRF allow-list, automatic incidents, flap
// detection, retries and timeouts. Only changed values are sent.
import { useState } from 'react';
import { Loader2, Save } from 'lucide-react';
import { api } from '@/api/client';
import type { AlertSettings } from '@/api/types';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Input, NativeSelect } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { ErrorState, Loading } from '@/components/ui/states';
import { useAsync } from '@/lib/useAsync';
import { settingsPatch, type SettingsForm } from './forms';

export function AlertSettingsPanel() {
  const { data, loading, error, reload } = useAsync(() => api.alertSettings(), []);
  if (error) return <Card><ErrorState message={error} onRetry={reload} /></Card>;
  if (loading && !data) return <Card><Loading /></Card>;
  return <SettingsEditor initial={data!} />;
}

const NUMBERS: { key: keyof SettingsForm; label: string; min: number; max: number; help: string }[] = [
  { key: 'flap_window_ms', label: 'Flap window (ms)', min: 0, max: 86400000, help: 'Episodes of one series within this window…' },
  { key: 'flap_threshold', label: 'Flap threshold', min: 0, max: 1000, help: '…at least this many: flapping, notified once (0 = off)' },
  { key: 'retry_base_ms', label: 'First retry after (ms)', min: 10, max: 3600000, help: 'Doubles per attempt, with jitter' },
  { key: 'retry_max_ms', label: 'Longest retry delay (ms)', min: 10, max: 86400000, help: '' },
  { key: 'max_attempts', label: 'Attempts before dead letter', min: 1, max: 100, help: '' },
  { key: 'timeout_ms', label: 'Timeout per attempt (ms)', min: 100, max: 120000, help: '' },
];

function SettingsEditor({ initial }: { initial: AlertSettings }) {
  const [orig, setOrig] = useState(initial);
  const [f, setF] = useState<SettingsForm>(() => {
    const { allow_private: _, ...rest } = initial;
    void _;
    return rest;
  });
  const allow_private = orig.allow_private;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const patch = settingsPatch(orig, f);
  const dirty = Object.keys(patch).length > 0;
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const s = await api.updateAlertSettings(patch);
      setOrig(s);
      const { allow_private: _, ...rest } = s;
      void _;
      setF(rest);
      setSaved(true);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Card>
      <CardHeader>
        <CardTitle>Delivery settings</CardTitle>
        <CardDescription>Apply to every channel and policy.</CardDescription>
      </CardHeader>
      <CardContent>
        <form onSubmit={submit} className="space-y-4">
          <div className="grid gap-3 md:grid-cols-2">
            <div className="space-y-1.5">
              <Label htmlFor="st-url">Dashboard URL in messages</Label>
              <Input id="st-url" placeholder="https://iotad.example.com (empty = the listen address)" value={f.public_url} onChange={(e) => setF({ ...f, public_url: e.target.value })} />
            </div>
            <div className="space-y-1.5">
              <Label htmlFor="st-auto">Open an incident by itself from</Label>
              <NativeSelect id="st-auto" value={f.auto_incident} onChange={(e) => setF({ ...f, auto_incident: e.target.value as SettingsForm['auto_incident'] })}>
                <option value="critical">Critical anomalies</option>
                <option value="warning">Warning and above</option>
                <option value="info">Every anomaly</option>
                <option value="off">Never (by hand only)</option>
              </NativeSelect>
            </div>
            <div className="space-y-1.5 md:col-span-2">
              <Label htmlFor="st-allow">Allowed private destinations</Label>
              <Input id="st-allow" placeholder="10.0.5.0/24, ::1" value={f.allow_nets} onChange={(e) => setF({ ...f, allow_nets: e.target.value })} />
              <p className="text-xs text-muted-foreground">
                Addresses or CIDR networks that channels may reach although private or loopback.
                {allow_private ? ' This server was started with IOTAD_ALERT_ALLOW_PRIVATE=1: every private address is allowed.' : ''}
              </p>
            </div>
          </div>
          <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3">
            {NUMBERS.map((n) => (
              <div key={n.key} className="space-y-1.5">
                <Label htmlFor={`st-${n.key}`}>{n.label}</Label>
                <Input id={`st-${n.key}`} type="number" min={n.min} max={n.max} required value={String(f[n.key])} onChange={(e) => setF({ ...f, [n.key]: e.target.value })} />
                {n.help && <p className="text-xs text-muted-foreground">{n.help}</p>}
              </div>
            ))}
          </div>
          {error && <p role="alert" className="text-sm text-destructive">{error}</p>}
          {saved && !dirty && <p role="status" className="text-sm">Saved.</p>}
          <Button type="submit" disabled={busy || !dirty}>{busy ? <Loader2 className="animate-spin" aria-hidden /> : <Save aria-hidden />} Save settings</Button>
        </form>
      </CardContent>
    </Card>
  );
}
