// Register / edit device dialog (name, type, location, firmware, attributes as JSON; for Admins
// the owner, the user the device belongs to).
import { useEffect, useState } from 'react';
import { Loader2 } from 'lucide-react';
import type { Device, DeviceInput, User } from '@/api/types';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input, NativeSelect, Textarea } from '@/components/ui/input';
import { Label } from '@/components/ui/label';

export function parseAttributes(text: string): Record<string, unknown> | string {
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    return 'Attributes must be a JSON object, e.g. {"floor": 2}';
  } catch {
    return 'Attributes are not valid JSON';
  }
}

export function DeviceFormDialog({
  open, onOpenChange, device, onSubmit, owners,
}: {
  open: boolean;
  onOpenChange: (o: boolean) => void;
  device?: Device;
  onSubmit: (d: DeviceInput) => Promise<void>;
  /** users who may own the device (Admins get the owner field; others never send it) */
  owners?: User[];
}) {
  const [f, setF] = useState({ name: '', type: '', location: '', firmware: '', attributes: '', owner_id: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (open) {
      setF({
        name: device?.name ?? '',
        type: device?.type ?? '',
        location: device?.location ?? '',
        firmware: device?.firmware ?? '',
        attributes: device?.attributes && Object.keys(device.attributes).length ? JSON.stringify(device.attributes, null, 2) : '',
        owner_id: device?.owner_id ?? '',
      });
      setError(null);
    }
  }, [open, device]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const attrs = parseAttributes(f.attributes);
    if (typeof attrs === 'string') return setError(attrs);
    if (!f.name.trim()) return setError('Name is required');
    setBusy(true);
    setError(null);
    try {
      const owner = owners && f.owner_id && f.owner_id !== device?.owner_id ? { owner_id: f.owner_id } : {};
      await onSubmit({ name: f.name.trim(), type: f.type.trim(), location: f.location.trim(), firmware: f.firmware.trim(), attributes: attrs, ...owner });
      onOpenChange(false);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  const field = (k: Exclude<keyof typeof f, 'owner_id'>, label: string, placeholder: string) => (
    <div className="space-y-1.5">
      <Label htmlFor={`dev-${k}`}>{label}</Label>
      <Input id={`dev-${k}`} value={f[k]} placeholder={placeholder} onChange={(e) => setF({ ...f, [k]: e.target.value })} required={k === 'name'} />
    </div>
  );

  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <form onSubmit={submit} className="space-y-4">
          <DialogHeader>
            <DialogTitle>{device ? 'Edit device' : 'Register a device'}</DialogTitle>
            <DialogDescription>{device ? 'Change the device metadata.' : 'After registering, create an API key so the device can publish.'}</DialogDescription>
          </DialogHeader>
          {error && <p role="alert" className="rounded-md bg-destructive/15 p-2 text-sm text-destructive">{error}</p>}
          {field('name', 'Name', 'boiler-1')}
          <div className="grid grid-cols-2 gap-3">
            {field('type', 'Type', 'thermostat')}
            {field('firmware', 'Firmware', '1.4.2')}
          </div>
          {field('location', 'Location', 'Plant 2')}
          {owners && (
            <div className="space-y-1.5">
              <Label htmlFor="dev-owner">Owner</Label>
              <NativeSelect id="dev-owner" value={f.owner_id} onChange={(e) => setF({ ...f, owner_id: e.target.value })}>
                {!f.owner_id && <option value="">You</option>}
                {owners.map((u) => <option key={u.id} value={u.id}>{ownerLabel(u)}</option>)}
              </NativeSelect>
              <p className="text-xs text-muted-foreground">A device owner sees only the devices given to them.</p>
            </div>
          )}
          <div className="space-y-1.5">
            <Label htmlFor="dev-attributes">Attributes (JSON object)</Label>
            <Textarea id="dev-attributes" className="font-mono text-xs" value={f.attributes} placeholder='{"floor": 2}' onChange={(e) => setF({ ...f, attributes: e.target.value })} />
          </div>
          <DialogFooter>
            <Button variant="outline" onClick={() => onOpenChange(false)}>Cancel</Button>
            <Button type="submit" disabled={busy}>
              {busy && <Loader2 className="animate-spin" aria-hidden />}
              {device ? 'Save' : 'Register'}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

const ROLE_TEXT = { admin: 'Admin', analyst: 'Analyst', device_owner: 'Device owner' } as const;
export const ownerLabel = (u: User) => `${u.name || u.email} · ${ROLE_TEXT[u.role] ?? u.role}`;

/** Users a device can be given to: enabled ones, device owners first, by name. */
export function ownerCandidates(users: User[]): User[] {
  const rank = (u: User) => (u.role === 'device_owner' ? 0 : 1);
  return users.filter((u) => !u.disabled).sort((a, b) => rank(a) - rank(b) || (a.name || a.email).localeCompare(b.name || b.email));
}
