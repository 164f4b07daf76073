// "Open incident" from one or several selected anomalies. One anomaly is in at most one open
// incident: when some of them already are (an automatic incident, or one opened by someone
// else meanwhile: the server's 409 names it), the dialog offers that incident instead — add the
// other anomalies to it, or go to it. Otherwise: a title (proposed from the anomalies), then
// POST /incidents and straight to the new incident.
import { useEffect, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { ArrowRight, Link2, Loader2, Siren } from 'lucide-react';
import { api, ApiError } from '@/api/client';
import type { Anomaly, IncidentStatus } from '@/api/types';
import { Button } from '@/components/ui/button';
import { Badge, SeverityBadge } from '@/components/ui/badge';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { useDeviceLabel } from '@/stores/devices';
import { defaultIncidentTitle, incidentErrorMessage, incidentPlan, STATUS_LABEL, useIncidents } from '@/stores/incidents';

export function NewIncidentDialog({ anomalies, open, onOpenChange, onCreated }: {
  anomalies: Anomaly[];
  open: boolean;
  onOpenChange: (o: boolean) => void;
  onCreated?: () => void;
}) {
  const create = useIncidents((s) => s.create);
  const label = useDeviceLabel();
  const navigate = useNavigate();
  const [title, setTitle] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [known, setKnown] = useState<Record<string, { id: string; title: string; status: IncidentStatus }>>({});
  const [target, setTarget] = useState('');
  useEffect(() => {
    if (open) {
      setTitle(defaultIncidentTitle(anomalies, label));
      setError(null);
      setKnown({});
      setTarget('');
    }
    // only when the dialog opens: live additions must not overwrite a typed title
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);
  const { free, existing } = incidentPlan(anomalies, known);
  const into = existing.find((e) => e.id === target) ?? existing[0];

  function done(id: string) {
    onOpenChange(false);
    onCreated?.();
    navigate(`/incidents/${id}`);
  }

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (into) {
        for (const a of free) await api.linkAnomaly(into.id, a.id);
        done(into.id);
      } else {
        done((await create(anomalies.map((a) => a.id), title.trim())).id);
      }
    } catch (err) {
      const body = err instanceof ApiError && err.status === 409 && err.code === 'anomaly_in_incident' ? err.body : null;
      if (body && typeof body.incident_id === 'string' && typeof body.anomaly_id === 'string') {
        // opened meanwhile (e.g. automatically): offer that one
        const inc = await api.incident(body.incident_id).catch(() => null);
        setKnown((k) => ({ ...k, [body.anomaly_id as string]: { id: body.incident_id as string, title: inc?.title ?? 'an open incident', status: inc?.status ?? 'new' } }));
      } else setError(incidentErrorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  const n = anomalies.length;
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <form onSubmit={submit} className="space-y-4" data-testid="new-incident-form">
          <DialogHeader>
            <DialogTitle>{into ? 'Already in an open incident' : 'Open an incident'}</DialogTitle>
            <DialogDescription>
              {into
                ? `An anomaly belongs to one open incident at most. ${free.length ? `Add the other ${free.length === 1 ? 'anomaly' : `${free.length} anomalies`} to it, or go to it.` : 'Go to it to work on it.'}`
                : `From ${n} anomal${n === 1 ? 'y' : 'ies'}; the incident takes the highest severity.`}
            </DialogDescription>
          </DialogHeader>
          {error && <p role="alert" className="rounded-md bg-destructive/15 p-2 text-sm text-destructive">{error}</p>}
          {into ? (
            <fieldset className="space-y-2" data-testid="existing-incidents">
              <legend className="sr-only">Open incidents holding these anomalies</legend>
              {existing.map((x) => (
                <label key={x.id} className="flex cursor-pointer items-start gap-3 rounded-md border p-3 has-[:checked]:border-primary has-[:checked]:bg-accent">
                  <input type="radio" name="into" className="mt-1 accent-[var(--primary)]" checked={x.id === into.id} onChange={() => setTarget(x.id)} />
                  <span className="min-w-0 flex-1 text-sm">
                    <span className="block font-medium break-words">{x.title}</span>
                    <span className="flex flex-wrap items-center gap-2 text-xs text-muted-foreground">
                      <Badge variant="secondary">{STATUS_LABEL[x.status]}</Badge>
                      holds {x.anomalyIds.length} of the selected
                      <Link className="text-primary hover:underline" to={`/incidents/${x.id}`} onClick={() => onOpenChange(false)}>
                        Go to it <ArrowRight className="inline size-3" aria-hidden />
                      </Link>
                    </span>
                  </span>
                </label>
              ))}
            </fieldset>
          ) : (
            <div className="space-y-1.5">
              <Label htmlFor="incident-title">Title</Label>
              <Input id="incident-title" required maxLength={300} value={title} onChange={(e) => setTitle(e.target.value)} />
            </div>
          )}
          <ul className="max-h-48 divide-y overflow-auto rounded-md border text-sm" aria-label="Selected anomalies">
            {anomalies.map((a) => (
              <li key={a.id} className="flex min-w-0 items-center gap-2 px-3 py-2">
                <SeverityBadge severity={a.severity} />
                <span className="max-w-[40%] shrink-0 truncate font-medium">{label(a.device_id, a.device_name)}</span>
                <span className="min-w-0 flex-1 truncate text-muted-foreground" title={a.description}>{a.metric}: {a.description}</span>
              </li>
            ))}
          </ul>
          <DialogFooter>
            <Button variant="outline" onClick={() => onOpenChange(false)}>Cancel</Button>
            {into ? (
              free.length > 0 ? (
                <Button type="submit" disabled={busy}>
                  {busy ? <Loader2 className="animate-spin" aria-hidden /> : <Link2 aria-hidden />} Add {free.length} to this incident
                </Button>
              ) : (
                <Button type="button" onClick={() => done(into.id)}>
                  <ArrowRight aria-hidden /> Go to the incident
                </Button>
              )
            ) : (
              <Button type="submit" disabled={busy || n === 0}>
                {busy ? <Loader2 className="animate-spin" aria-hidden /> : <Siren aria-hidden />} Open incident
              </Button>
            )}
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
