// "Open incident" from one or several selected anomalies (POST /incidents): a title (defaults to
// the first anomaly's description), the anomalies listed, then straight to the new incident.
import { useEffect, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { Loader2, Siren } from 'lucide-react';
import type { Anomaly } from '@/api/types';
import { Button } from '@/components/ui/button';
import { SeverityBadge } from '@/components/ui/badge';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { defaultIncidentTitle, incidentErrorMessage, useIncidents } from '@/stores/incidents';

export function NewIncidentDialog({ anomalies, open, onOpenChange, onCreated }: {
  anomalies: Anomaly[];
  open: boolean;
  onOpenChange: (o: boolean) => void;
  onCreated?: () => void;
}) {
  const create = useIncidents((s) => s.create);
  const navigate = useNavigate();
  const [title, setTitle] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (open) {
      setTitle(defaultIncidentTitle(anomalies));
      setError(null);
    }
    // only when the dialog opens: live additions must not overwrite a typed title
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const inc = await create(anomalies.map((a) => a.id), title.trim());
      onOpenChange(false);
      onCreated?.();
      navigate(`/incidents/${inc.id}`);
    } catch (err) {
      setError(incidentErrorMessage(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <form onSubmit={submit} className="space-y-4">
          <DialogHeader>
            <DialogTitle>Open an incident</DialogTitle>
            <DialogDescription>
              From {anomalies.length} anomal{anomalies.length === 1 ? 'y' : 'ies'}; the incident takes the highest severity.
            </DialogDescription>
          </DialogHeader>
          {error && <p role="alert" className="rounded-md bg-destructive/15 p-2 text-sm text-destructive">{error}</p>}
          <div className="space-y-1.5">
            <Label htmlFor="incident-title">Title</Label>
            <Input id="incident-title" required maxLength={300} value={title} onChange={(e) => setTitle(e.target.value)} />
          </div>
          <ul className="max-h-48 divide-y overflow-auto rounded-md border text-sm" aria-label="Anomalies in the new incident">
            {anomalies.map((a) => (
              <li key={a.id} className="flex items-center gap-2 px-3 py-2">
                <SeverityBadge severity={a.severity} />
                <span className="font-medium">{a.device_name ?? a.device_id.slice(0, 8)}</span>
                <span className="truncate text-muted-foreground">{a.metric}: {a.description}</span>
              </li>
            ))}
          </ul>
          <DialogFooter>
            <Button variant="outline" onClick={() => onOpenChange(false)}>Cancel</Button>
            <Button type="submit" disabled={busy || anomalies.length === 0}>
              {busy ? <Loader2 className="animate-spin" aria-hidden /> : <Siren aria-hidden />} Open incident
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
