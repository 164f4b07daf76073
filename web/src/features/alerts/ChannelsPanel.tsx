// Notification channels (Admin): webhook, e-mail over SMTP, SMS gateway. Secrets are write-only
// (the list only says whether one is set). A test message is queued on demand and shows up in
// the history like any alert.
import { useState } from 'react';
import { Loader2, Pencil, Plus, Send, Trash2 } from 'lucide-react';
import { api } from '@/api/client';
import type { AlertChannel, ChannelKind } from '@/api/types';
import { Button } from '@/components/ui/button';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input, NativeSelect, Textarea } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Switch } from '@/components/ui/switch';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { useAsync } from '@/lib/useAsync';
import { channelToForm, endpointKind, formToChannel, KIND_LABEL, URL_HINT, type ChannelForm } from './forms';

export function ChannelsPanel() {
  const { data, loading, error, reload } = useAsync(() => api.channels(), []);
  const [editing, setEditing] = useState<AlertChannel | 'new' | null>(null);
  const [testing, setTesting] = useState<AlertChannel | null>(null);
  const [opError, setOpError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  async function run(fn: () => Promise<unknown>) {
    setOpError(null);
    setNotice(null);
    try {
      await fn();
      await reload();
    } catch (e) {
      setOpError((e as Error).message);
    }
  }
  const channels = data?.items ?? [];
  return (
    <Card>
      <CardHeader className="flex-row items-center justify-between">
        <div>
          <CardTitle>Channels</CardTitle>
          <CardDescription>Where alerts go out. Secrets are stored but never shown again.</CardDescription>
        </div>
        <Button onClick={() => setEditing('new')}><Plus aria-hidden /> Add channel</Button>
      </CardHeader>
      <CardContent>
        {opError && <p role="alert" className="mb-2 text-sm text-destructive">{opError}</p>}
        {notice && <p role="status" className="mb-2 text-sm">{notice}</p>}
        {error ? (
          <ErrorState message={error} onRetry={reload} />
        ) : loading && !data ? (
          <Loading />
        ) : channels.length === 0 ? (
          <Empty title="No channels yet">Add a webhook, an SMTP server or an SMS gateway, then a policy that uses it.</Empty>
        ) : (
          <div className="relative overflow-x-auto">
            <table role="table" className="card-table w-full text-sm">
              <thead role="rowgroup" className="text-left text-xs text-muted-foreground">
                <tr role="row">
                  <th role="columnheader" className="py-2 font-medium">Name</th>
                  <th role="columnheader" className="py-2 font-medium">Kind</th>
                  <th role="columnheader" className="py-2 font-medium">Destination</th>
                  <th role="columnheader" className="py-2 font-medium">Rate</th>
                  <th role="columnheader" className="py-2 font-medium">Enabled</th>
                  <th role="columnheader" className="py-2"><span className="sr-only">Actions</span></th>
                </tr>
              </thead>
              <tbody role="rowgroup">
                {channels.map((c) => (
                  <tr role="row" key={c.id} className="border-t" data-testid="channel-row">
                    <td role="cell" data-label="Name" className="py-2 font-medium">{c.name}</td>
                    <td role="cell" data-label="Kind" className="py-2">{KIND_LABEL[c.kind] ?? c.kind} {c.has_secret && <Badge variant="secondary">secret set</Badge>}</td>
                    <td role="cell" data-label="Destination" className="max-w-72 truncate py-2 font-mono text-xs" title={c.url}>{c.url}</td>
                    <td role="cell" data-label="Rate" className="py-2 text-muted-foreground">{c.rate_per_min ? `${c.rate_per_min}/min` : 'unlimited'}</td>
                    <td role="cell" data-label="Enabled" className="py-2">
                      <Switch checked={c.enabled} aria-label={`Channel ${c.name} enabled`} onCheckedChange={(on) => run(() => api.updateChannel(c.id, { enabled: on }))} />
                    </td>
                    <td role="cell" data-label="" className="whitespace-nowrap py-2 text-right">
                      <Button variant="ghost" size="sm" aria-label={`Send a test on ${c.name}`} onClick={() => (endpointKind(c.kind) ? run(async () => {
                        const a = await api.testChannel(c.id);
                        setNotice(`Test message queued (alert ${a.id.slice(0, 8)}…); see the History tab.`);
                      }) : setTesting(c))}>
                        <Send aria-hidden />
                      </Button>
                      <Button variant="ghost" size="sm" aria-label={`Edit channel ${c.name}`} onClick={() => setEditing(c)}><Pencil aria-hidden /></Button>
                      <Button variant="ghost" size="sm" className="text-destructive" aria-label={`Delete channel ${c.name}`} onClick={() => confirm(`Delete channel ${c.name}? Its policies go too, and its queued alerts are dead-lettered.`) && run(() => api.deleteChannel(c.id))}>
                        <Trash2 aria-hidden />
                      </Button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </CardContent>
      <ChannelDialog channel={editing} onClose={() => setEditing(null)} onSaved={reload} />
      <TestDialog
        channel={testing}
        onClose={() => setTesting(null)}
        onQueued={(id) => setNotice(`Test message queued (alert ${id.slice(0, 8)}…); see the History tab.`)}
      />
    </Card>
  );
}

function ChannelDialog({ channel, onClose, onSaved }: { channel: AlertChannel | 'new' | null; onClose: () => void; onSaved: () => void }) {
  const creating = channel === 'new';
  const [f, setF] = useState<ChannelForm>(channelToForm());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [openedFor, setOpenedFor] = useState<typeof channel>(null);
  if (channel !== openedFor) {
    // reset the form whenever the dialog opens for another channel
    setOpenedFor(channel);
    setF(channelToForm(channel && channel !== 'new' ? channel : undefined));
    setError(null);
  }
  const existing = channel && channel !== 'new' ? channel : null;
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = formToChannel(f, creating);
      if (existing) await api.updateChannel(existing.id, body);
      else await api.createChannel(body);
      onClose();
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  const set = (p: Partial<ChannelForm>) => setF({ ...f, ...p });
  return (
    <Dialog open={channel !== null} onOpenChange={(o) => !o && onClose()}>
      <DialogContent className="max-w-xl">
        <form onSubmit={submit} className="space-y-4">
          <DialogHeader>
            <DialogTitle>{creating ? 'Add channel' : `Edit ${existing?.name ?? 'channel'}`}</DialogTitle>
            <DialogDescription>Private and loopback addresses are refused unless allowed in the delivery settings.</DialogDescription>
          </DialogHeader>
          {error && <p role="alert" className="rounded-md bg-destructive/15 p-2 text-sm text-destructive">{error}</p>}
          <div className="grid gap-3 sm:grid-cols-2">
            <div className="space-y-1.5"><Label htmlFor="ch-name">Name</Label><Input id="ch-name" required maxLength={100} value={f.name} onChange={(e) => set({ name: e.target.value })} /></div>
            <div className="space-y-1.5">
              <Label htmlFor="ch-kind">Kind</Label>
              <NativeSelect id="ch-kind" value={f.kind} disabled={!creating} onChange={(e) => set({ kind: e.target.value as ChannelKind })}>
                {(Object.keys(KIND_LABEL) as ChannelKind[]).map((k) => <option key={k} value={k}>{KIND_LABEL[k]}</option>)}
              </NativeSelect>
            </div>
          </div>
          <div className="space-y-1.5">
            <Label htmlFor="ch-url">URL</Label>
            <Input id="ch-url" required placeholder={URL_HINT[f.kind]} value={f.url} onChange={(e) => set({ url: e.target.value })} />
          </div>
          {(f.kind === 'email' || f.kind === 'sms') && (
            <div className="grid gap-3 sm:grid-cols-2">
              <div className="space-y-1.5"><Label htmlFor="ch-from">From</Label><Input id="ch-from" placeholder={f.kind === 'email' ? 'iotad@example.com' : '+15550001111'} value={f.from} onChange={(e) => set({ from: e.target.value })} /></div>
              <div className="space-y-1.5"><Label htmlFor="ch-user">Username</Label><Input id="ch-user" autoComplete="off" value={f.username} onChange={(e) => set({ username: e.target.value })} /></div>
            </div>
          )}
          {f.kind === 'email' && (
            <div className="space-y-1.5">
              <Label htmlFor="ch-starttls">STARTTLS</Label>
              <NativeSelect id="ch-starttls" value={f.starttls} onChange={(e) => set({ starttls: e.target.value as ChannelForm['starttls'] })}>
                <option value="">Default (try)</option>
                <option value="try">Try</option>
                <option value="require">Require</option>
                <option value="off">Off</option>
              </NativeSelect>
            </div>
          )}
          {f.kind === 'sms' && (
            <div className="grid gap-3">
              <div className="space-y-1.5">
                <Label htmlFor="ch-template">Body template (optional)</Label>
                <Textarea id="ch-template" placeholder='{"from":"{from}","to":"{to}","text":"{body}"}' value={f.body_template} onChange={(e) => set({ body_template: e.target.value })} />
                <p className="text-xs text-muted-foreground">Placeholders {'{from}'} {'{to}'} {'{body}'}; empty = Twilio form.</p>
              </div>
              <div className="space-y-1.5"><Label htmlFor="ch-ctype">Content type (optional)</Label><Input id="ch-ctype" placeholder="application/json" value={f.content_type} onChange={(e) => set({ content_type: e.target.value })} /></div>
            </div>
          )}
          {f.kind === 'syslog' && (
            <div className="grid gap-3 sm:grid-cols-2">
              <div className="space-y-1.5">
                <Label htmlFor="ch-facility">Facility</Label>
                <NativeSelect id="ch-facility" value={f.facility} onChange={(e) => set({ facility: e.target.value })}>
                  <option value="">Default (local0)</option>
                  {['user', 'daemon', 'auth', 'security', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'].map((x) => <option key={x} value={x}>{x}</option>)}
                </NativeSelect>
              </div>
              <div className="space-y-1.5"><Label htmlFor="ch-hostname">Hostname (optional)</Label><Input id="ch-hostname" maxLength={64} placeholder="this host's name" value={f.hostname} onChange={(e) => set({ hostname: e.target.value })} /></div>
              <div className="space-y-1.5">
                <Label htmlFor="ch-framing">TCP/TLS framing</Label>
                <NativeSelect id="ch-framing" value={f.framing} onChange={(e) => set({ framing: e.target.value as ChannelForm['framing'] })}>
                  <option value="">Default (octet counting)</option>
                  <option value="octet-counting">Octet counting (RFC 6587)</option>
                  <option value="newline">Newline</option>
                </NativeSelect>
              </div>
              <div className="space-y-1.5 sm:col-span-2">
                <Label htmlFor="ch-ca">CA certificate for tls:// (PEM, optional)</Label>
                <Textarea id="ch-ca" className="min-h-12 font-mono text-xs" placeholder="-----BEGIN CERTIFICATE----- … (empty = the system CAs)" value={f.ca_pem} onChange={(e) => set({ ca_pem: e.target.value })} />
              </div>
            </div>
          )}
          <div className="grid gap-3 sm:grid-cols-2">
            {f.kind !== 'syslog' && <div className="space-y-1.5">
              <Label htmlFor="ch-secret">{f.kind === 'webhook' ? 'Signing secret (HMAC)' : f.kind === 'email' ? 'SMTP password' : 'Gateway password / token'}</Label>
              <Input id="ch-secret" type="password" autoComplete="new-password" placeholder={existing?.has_secret ? 'unchanged' : 'none'} value={f.secret} onChange={(e) => set({ secret: e.target.value })} />
            </div>}
            <div className="space-y-1.5"><Label htmlFor="ch-rate">Rate limit per minute (0 = none)</Label><Input id="ch-rate" type="number" min={0} max={100000} value={f.rate_per_min} onChange={(e) => set({ rate_per_min: e.target.value })} /></div>
          </div>
          <div className="flex items-center gap-2">
            <Switch id="ch-enabled" checked={f.enabled} onCheckedChange={(on) => set({ enabled: on })} />
            <Label htmlFor="ch-enabled">Enabled (a disabled channel holds its alerts)</Label>
          </div>
          <DialogFooter>
            <Button variant="outline" onClick={onClose}>Cancel</Button>
            <Button type="submit" disabled={busy}>{busy && <Loader2 className="animate-spin" aria-hidden />}{creating ? 'Add channel' : 'Save'}</Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function TestDialog({ channel, onClose, onQueued }: { channel: AlertChannel | null; onClose: () => void; onQueued: (alertId: string) => void }) {
  const [to, setTo] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Dialog open={channel !== null} onOpenChange={(o) => !o && onClose()}>
      <DialogContent>
        <form
          className="space-y-4"
          onSubmit={async (e) => {
            e.preventDefault();
            if (!channel) return;
            setBusy(true);
            setError(null);
            try {
              const a = await api.testChannel(channel.id, to.trim());
              onQueued(a.id);
              onClose();
            } catch (err) {
              setError((err as Error).message);
            } finally {
              setBusy(false);
            }
          }}
        >
          <DialogHeader>
            <DialogTitle>Send a test on {channel?.name}</DialogTitle>
            <DialogDescription>{channel?.kind === 'sms' ? 'A phone number in international form.' : 'An e-mail address.'}</DialogDescription>
          </DialogHeader>
          {error && <p role="alert" className="rounded-md bg-destructive/15 p-2 text-sm text-destructive">{error}</p>}
          <div className="space-y-1.5">
            <Label htmlFor="test-to">Send to</Label>
            <Input id="test-to" required value={to} placeholder={channel?.kind === 'sms' ? '+15551234567' : 'me@example.com'} onChange={(e) => setTo(e.target.value)} />
          </div>
          <DialogFooter>
            <Button variant="outline" onClick={onClose}>Cancel</Button>
            <Button type="submit" disabled={busy}><Send aria-hidden /> Send test</Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
