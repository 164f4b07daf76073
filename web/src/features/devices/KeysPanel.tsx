// API keys of a device: list, create, rotate, revoke. A new secret is shown exactly once, with
// copyable MQTT (mosquitto_pub) and HTTP (curl) examples that use it.
import { useState } from 'react';
import { KeyRound, Loader2, RotateCw, Trash2 } from 'lucide-react';
import { api } from '@/api/client';
import type { NewApiKey } from '@/api/types';
import { Button } from '@/components/ui/button';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { CopyBlock } from '@/components/CopyBlock';
import { useAsync } from '@/lib/useAsync';
import { fmtTime } from '@/lib/utils';

export function connectionExamples(deviceId: string, key: string, host: string, origin: string) {
  const payload = `{"metrics":{"temp":21.5}}`;
  return {
    mqtt: `mosquitto_pub -h ${host} -p 1883 -q 1 -u ${deviceId} -P '${key}' \\\n  -t devices/${deviceId}/telemetry -m '${payload}'`,
    http: `curl -X POST ${origin}/api/v1/ingest -H 'X-API-Key: ${key}' \\\n  -H 'Content-Type: application/json' -d '${payload}'`,
  };
}

export function KeysPanel({ deviceId }: { deviceId: string }) {
  const { data, loading, error, reload } = useAsync(() => api.keys(deviceId), [deviceId]);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [opError, setOpError] = useState<string | null>(null);
  const [secret, setSecret] = useState<NewApiKey | null>(null);

  async function run(fn: () => Promise<unknown>) {
    setBusy(true);
    setOpError(null);
    try {
      await fn();
      await reload();
    } catch (e) {
      setOpError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  const ex = secret ? connectionExamples(deviceId, secret.key, location.hostname, location.origin) : null;
  const keys = data?.items ?? [];

  return (
    <Card>
      <CardHeader>
        <CardTitle>API keys</CardTitle>
        <CardDescription>A device authenticates with its id and one of these keys (MQTT username/password, or the X-API-Key header).</CardDescription>
      </CardHeader>
      <CardContent className="space-y-4">
        <form
          className="flex flex-wrap items-end gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => {
              setSecret(await api.createKey(deviceId, name.trim() || undefined));
              setName('');
            });
          }}
        >
          <div className="space-y-1.5">
            <Label htmlFor="key-name">Key name (optional)</Label>
            <Input id="key-name" className="w-56" value={name} placeholder="production" onChange={(e) => setName(e.target.value)} />
          </div>
          <Button type="submit" disabled={busy} data-testid="create-key">
            {busy ? <Loader2 className="animate-spin" aria-hidden /> : <KeyRound aria-hidden />} Create key
          </Button>
        </form>
        {opError && <p role="alert" className="text-sm text-destructive">{opError}</p>}
        {error ? (
          <ErrorState message={error} onRetry={reload} />
        ) : loading && !data ? (
          <Loading />
        ) : keys.length === 0 ? (
          <Empty title="No keys yet">Create a key to let this device publish.</Empty>
        ) : (
          <div className="relative overflow-x-auto">
            <table role="table" className="card-table w-full text-sm">
              <thead role="rowgroup" className="text-left text-xs text-muted-foreground">
                <tr role="row">
                  <th role="columnheader" className="py-2 font-medium">Name</th>
                  <th role="columnheader" className="py-2 font-medium">Prefix</th>
                  <th role="columnheader" className="py-2 font-medium">Created</th>
                  <th role="columnheader" className="py-2 font-medium">State</th>
                  <th role="columnheader" className="py-2"><span className="sr-only">Actions</span></th>
                </tr>
              </thead>
              <tbody role="rowgroup">
                {keys.map((k) => (
                  <tr role="row" key={k.id} className="border-t">
                    <td role="cell" data-label="Name" className="py-2">{k.name || '—'}</td>
                    <td role="cell" data-label="Prefix" className="py-2 font-mono text-xs">{k.prefix}…</td>
                    <td role="cell" data-label="Created" className="py-2 text-muted-foreground">{fmtTime(k.created_at)}</td>
                    <td role="cell" data-label="State" className="py-2">{k.revoked ? <Badge variant="secondary">revoked</Badge> : <Badge variant="success">active</Badge>}</td>
                    <td role="cell" data-label="" className="py-2 text-right">
                      {!k.revoked && (
                        <div className="flex justify-end gap-1">
                          <Button variant="ghost" size="sm" disabled={busy} onClick={() => run(async () => setSecret(await api.rotateKey(deviceId, k.id)))} aria-label={`Rotate key ${k.name || k.prefix}`}>
                            <RotateCw aria-hidden /> Rotate
                          </Button>
                          <Button
                            variant="ghost"
                            size="sm"
                            className="text-destructive"
                            disabled={busy}
                            onClick={() => {
                              if (confirm('Revoke this key? Devices using it will be refused.')) void run(() => api.revokeKey(deviceId, k.id));
                            }}
                            aria-label={`Revoke key ${k.name || k.prefix}`}
                          >
                            <Trash2 aria-hidden /> Revoke
                          </Button>
                        </div>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </CardContent>
      <Dialog open={!!secret} onOpenChange={(o) => !o && setSecret(null)}>
        <DialogContent className="max-w-2xl">
          <DialogHeader>
            <DialogTitle>New API key</DialogTitle>
            <DialogDescription>Copy it now: the secret is shown only once and cannot be retrieved later.</DialogDescription>
          </DialogHeader>
          {secret && ex && (
            <div className="space-y-3">
              <CopyBlock label="Secret key" text={secret.key} testId="new-key-secret" />
              <CopyBlock label="Device id (MQTT username)" text={deviceId} />
              <CopyBlock label="Publish over MQTT" text={ex.mqtt} testId="mqtt-example" />
              <CopyBlock label="Publish over HTTP" text={ex.http} testId="http-example" />
            </div>
          )}
          <DialogFooter>
            <Button onClick={() => setSecret(null)}>I have stored the key</Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>
    </Card>
  );
}
