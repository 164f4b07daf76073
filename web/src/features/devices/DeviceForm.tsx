// Register / edit device dialog (name, type, location, firmware, attributes as JSON).
import { useEffect, useState } from 'react';
import { Loader2 } from 'lucide-react';
import type { Device, DeviceInput } from '@/api/types';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input, Textarea } from '@/components/ui/input';
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
  open, onOpenChange, device, onSubmit,
}: {
  open: boolean;
  onOpenChange: (o: boolean) => void;
  device?: Device;
  onSubmit: (d: DeviceInput) => Promise<void>;
}) {
  const [f, setF] = useState({ name: '', type: '', location: '', firmware: '', attributes: '' });
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
      await onSubmit({ name: f.name.trim(), type: f.type.trim(), location: f.location.trim(), firmware: f.firmware.trim(), attributes: attrs });
      onOpenChange(false);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  const field = (k: keyof typeof f, label: string, placeholder: string) => (
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
