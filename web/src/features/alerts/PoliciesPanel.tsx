// Alert policies (Admin): which anomalies (severities, one device or a device type) go through
// which channel to whom (roles, users, the device's owner, literal addresses), with grouping
// (wait, window) and escalation of unacknowledged critical anomalies.
import { useEffect, useMemo, useState } from 'react';
import { Loader2, Pencil, Plus, Trash2 } from 'lucide-react';
import { api } from '@/api/client';
import type { AlertChannel, AlertPolicy, Role, Severity, User } from '@/api/types';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input, NativeSelect, Textarea } from '@/components/ui/input';
import { DevicePicker } from '@/components/DevicePicker';
import { Label } from '@/components/ui/label';
import { Switch } from '@/components/ui/switch';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { useAsync } from '@/lib/useAsync';
import { useDeviceLabel, useDevices, deviceTypes } from '@/stores/devices';
import { useUsers } from '@/stores/users';
import { endpointKind, fmtMs, formToPolicy, policyRecipients, policyScope, policyToForm, ROLES, SEVERITIES, type PolicyForm } from './forms';

export function PoliciesPanel() {
  const { data, loading, error, reload } = useAsync(() => Promise.all([api.policies(), api.channels()]), []);
  const devices = useDevices();
  const loadDevices = devices.load;
  const loadUsers = useUsers((s) => s.load);
  useEffect(() => {
    void loadDevices();
    void loadUsers();
  }, [loadDevices, loadUsers]);
  const deviceName = useDeviceLabel();
  const [editing, setEditing] = useState<AlertPolicy | 'new' | null>(null);
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
  const policies = data?.[0].items ?? [];
  const channels = data?.[1].items ?? [];
  const channelOf = new Map(channels.map((c) => [c.id, c]));
  return (
    <Card>
      <CardHeader className="flex-row items-center justify-between">
        <div>
          <CardTitle>Policies</CardTitle>
          <CardDescription>Each enabled policy that matches an anomaly sends one alert per recipient.</CardDescription>
        </div>
        <Button onClick={() => setEditing('new')} disabled={channels.length === 0} title={channels.length === 0 ? 'Add a channel first' : undefined}>
          <Plus aria-hidden /> Add policy
        </Button>
      </CardHeader>
      <CardContent>
        {opError && <p role="alert" className="mb-2 text-sm text-destructive">{opError}</p>}
        {error ? (
          <ErrorState message={error} onRetry={reload} />
        ) : loading && !data ? (
          <Loading />
        ) : policies.length === 0 ? (
          <Empty title="No policies yet">{channels.length === 0 ? 'Add a channel first, then a policy that uses it.' : 'Add one to start sending alerts.'}</Empty>
        ) : (
          <ul className="divide-y text-sm">
            {policies.map((p) => {
              const ch = channelOf.get(p.channel_id);
              return (
                <li key={p.id} className="flex flex-wrap items-center gap-3 py-3" data-testid="policy-row">
                  <Switch checked={p.enabled} aria-label={`Policy ${p.name} enabled`} onCheckedChange={(on) => run(() => api.updatePolicy(p.id, { enabled: on }))} />
                  <div className="min-w-0 flex-1">
                    <p className="font-medium">{p.name}</p>
                    <p className="text-muted-foreground">
                      {policyScope(p, deviceName)} → {ch ? ch.name : 'a deleted channel'} → {policyRecipients(p, ch?.kind)}
                    </p>
                    <p className="text-xs text-muted-foreground">
                      grouped within {fmtMs(p.group_window_ms)}{p.group_wait_ms ? `, first after ${fmtMs(p.group_wait_ms)}` : ''}
                      {p.escalate_after_ms ? ` · unacknowledged critical escalates after ${fmtMs(p.escalate_after_ms)}` : ''}
                    </p>
                  </div>
                  <Button variant="ghost" size="sm" aria-label={`Edit policy ${p.name}`} onClick={() => setEditing(p)}><Pencil aria-hidden /></Button>
                  <Button variant="ghost" size="sm" className="text-destructive" aria-label={`Delete policy ${p.name}`} onClick={() => confirm(`Delete policy ${p.name}?`) && run(() => api.deletePolicy(p.id))}>
                    <Trash2 aria-hidden />
                  </Button>
                </li>
              );
            })}
          </ul>
        )}
      </CardContent>
      <PolicyDialog policy={editing} channels={channels} onClose={() => setEditing(null)} onSaved={reload} />
    </Card>
  );
}

function Checks<T extends string>({ legend, options, value, onChange }: { legend: string; options: { value: T; label: string }[]; value: T[]; onChange: (v: T[]) => void }) {
  return (
    <fieldset>
      <legend className="mb-1.5 text-sm font-medium">{legend}</legend>
      <div className="flex flex-wrap gap-x-4 gap-y-1">
        {options.map((o) => (
          <label key={o.value} className="flex items-center gap-1.5 text-sm">
            <input
              type="checkbox"
              className="size-4 accent-[var(--primary)]"
              checked={value.includes(o.value)}
              onChange={(e) => onChange(e.target.checked ? [...value, o.value] : value.filter((x) => x !== o.value))}
            />
            {o.label}
          </label>
        ))}
      </div>
    </fieldset>
  );
}

function userOptions(users: User[]) {
  return users.filter((u) => !u.disabled).map((u) => ({ value: u.id, label: u.name || u.email }));
}

function PolicyDialog({ policy, channels, onClose, onSaved }: { policy: AlertPolicy | 'new' | null; channels: AlertChannel[]; onClose: () => void; onSaved: () => void }) {
  const devices = useDevices((s) => s.items);
  const users = useUsers((s) => s.items);
  const [f, setF] = useState<PolicyForm>(policyToForm());
  const [openedFor, setOpenedFor] = useState<typeof policy>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (policy !== openedFor) {
    setOpenedFor(policy);
    setF(policyToForm(policy && policy !== 'new' ? policy : undefined, channels[0]?.id ?? ''));
    setError(null);
  }
  const existing = policy && policy !== 'new' ? policy : null;
  const kind = channels.find((c) => c.id === f.channel_id)?.kind;
  const types = useMemo(() => deviceTypes(devices), [devices]);
  const set = (p: Partial<PolicyForm>) => setF({ ...f, ...p });
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    if (f.severities.length === 0) {
      setError('Pick at least one severity.');
      return;
    }
    if (f.scope === 'device' && !f.device_id) {
      setError('Choose the device.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = formToPolicy(f);
      if (existing) await api.updatePolicy(existing.id, body);
      else await api.createPolicy(body);
      onClose();
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Dialog open={policy !== null} onOpenChange={(o) => !o && onClose()}>
      <DialogContent className="max-w-2xl">
        <form onSubmit={submit} className="space-y-4">
          <DialogHeader>
            <DialogTitle>{existing ? `Edit ${existing.name}` : 'Add policy'}</DialogTitle>
            <DialogDescription>Which anomalies, through which channel, to whom.</DialogDescription>
          </DialogHeader>
          {error && <p role="alert" className="rounded-md bg-destructive/15 p-2 text-sm text-destructive">{error}</p>}
          <div className="grid gap-3 sm:grid-cols-2">
            <div className="space-y-1.5"><Label htmlFor="po-name">Name</Label><Input id="po-name" required maxLength={100} value={f.name} onChange={(e) => set({ name: e.target.value })} /></div>
            <div className="space-y-1.5">
              <Label htmlFor="po-channel">Channel</Label>
              <NativeSelect id="po-channel" required value={f.channel_id} onChange={(e) => set({ channel_id: e.target.value })}>
                {channels.map((c) => <option key={c.id} value={c.id}>{c.name} ({c.kind})</option>)}
              </NativeSelect>
            </div>
          </div>
          <Checks<Severity> legend="Severities" options={SEVERITIES.map((s) => ({ value: s, label: s }))} value={f.severities} onChange={(v) => set({ severities: v })} />
          <div className="grid gap-3 sm:grid-cols-2">
            <div className="space-y-1.5">
              <Label htmlFor="po-scope">Devices</Label>
              <NativeSelect id="po-scope" value={f.scope} onChange={(e) => set({ scope: e.target.value as PolicyForm['scope'] })}>
                <option value="all">All devices</option>
                <option value="device">One device</option>
                <option value="type">A device type</option>
              </NativeSelect>
            </div>
            {f.scope === 'device' && (
              <div className="space-y-1.5">
                <Label htmlFor="po-device">Device</Label>
                <DevicePicker id="po-device" aria-label="Device" value={f.device_id} onChange={(id) => set({ device_id: id })} />
              </div>
            )}
            {f.scope === 'type' && (
              <div className="space-y-1.5">
                <Label htmlFor="po-type">Device type</Label>
                <Input id="po-type" required list="po-types" value={f.device_type} onChange={(e) => set({ device_type: e.target.value })} />
                <datalist id="po-types">{types.map((t) => <option key={t} value={t} />)}</datalist>
              </div>
            )}
          </div>
          {!endpointKind(kind) && (
            <div className="space-y-3 rounded-md border p-3">
              <p className="text-sm font-medium">Recipients</p>
              <Checks<Role> legend="Every user with the role" options={ROLES} value={f.roles} onChange={(v) => set({ roles: v })} />
              {users.length > 0 && <Checks<string> legend="These users" options={userOptions(users)} value={f.users} onChange={(v) => set({ users: v })} />}
              <div className="flex items-center gap-2">
                <Switch id="po-owner" checked={f.device_owner} onCheckedChange={(on) => set({ device_owner: on })} />
                <Label htmlFor="po-owner">The device’s owner</Label>
              </div>
              <div className="space-y-1.5">
                <Label htmlFor="po-addresses">Other addresses</Label>
                <Textarea id="po-addresses" className="min-h-12" placeholder={kind === 'sms' ? '+15551234567, +15557654321' : 'ops@example.com, oncall@example.com'} value={f.addresses} onChange={(e) => set({ addresses: e.target.value })} />
              </div>
            </div>
          )}
          <div className="grid gap-3 sm:grid-cols-2">
            <div className="space-y-1.5"><Label htmlFor="po-wait">Wait before the first message (s)</Label><Input id="po-wait" type="number" min={0} step="any" value={f.group_wait_s} onChange={(e) => set({ group_wait_s: e.target.value })} /></div>
            <div className="space-y-1.5"><Label htmlFor="po-window">Group further anomalies within (s)</Label><Input id="po-window" type="number" min={0} step="any" value={f.group_window_s} onChange={(e) => set({ group_window_s: e.target.value })} /></div>
          </div>
          <div className="space-y-3 rounded-md border p-3">
            <div className="space-y-1.5">
              <Label htmlFor="po-escalate">Escalate unacknowledged critical anomalies after (minutes, 0 = never)</Label>
              <Input id="po-escalate" type="number" min={0} step="any" className="w-40" value={f.escalate_after_min} onChange={(e) => set({ escalate_after_min: e.target.value })} />
            </div>
            {Number(f.escalate_after_min) > 0 && (
              <>
                <Checks<Role> legend="Escalate to every user with the role" options={ROLES} value={f.escalate_roles} onChange={(v) => set({ escalate_roles: v })} />
                {users.length > 0 && <Checks<string> legend="Escalate to these users" options={userOptions(users)} value={f.escalate_users} onChange={(v) => set({ escalate_users: v })} />}
                <div className="space-y-1.5">
                  <Label htmlFor="po-esc-addresses">Escalate to addresses</Label>
                  <Input id="po-esc-addresses" value={f.escalate_addresses} onChange={(e) => set({ escalate_addresses: e.target.value })} />
                </div>
              </>
            )}
          </div>
          <div className="flex items-center gap-2">
            <Switch id="po-enabled" checked={f.enabled} onCheckedChange={(on) => set({ enabled: on })} />
            <Label htmlFor="po-enabled">Enabled</Label>
          </div>
          <DialogFooter>
            <Button variant="outline" onClick={onClose}>Cancel</Button>
            <Button type="submit" disabled={busy}>{busy && <Loader2 className="animate-spin" aria-hidden />}{existing ? 'Save' : 'Add policy'}</Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
