// One incident: status moves (new -> investigating -> resolved with a verdict, reopen), assignment
// (Admins pick any Analyst/Admin; Analysts take it themselves or hand it back), comments, linked
// anomalies (and linking another), and the timeline of every change. Device owners read only.
// A refused move (409: someone else changed it first) is explained and the incident reloaded.
import { useEffect, useMemo, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import {
  ArrowLeft, CircleCheck, CirclePlay, Link2, Loader2, MessageSquare, Plus, RotateCcw, Send, UserRound,
} from 'lucide-react';
import { api } from '@/api/client';
import type { Anomaly, IncidentDetail, TimelineEvent, Verdict } from '@/api/types';
import { PageHeader } from '@/components/Layout';
import { Button } from '@/components/ui/button';
import { Badge, SeverityBadge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { NativeSelect, Textarea } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { useAuth, can } from '@/stores/auth';
import {
  assignableUsers, describeEvent, fmtDuration, incidentErrorMessage, nextStatuses, STATUS_LABEL, useIncidents, verdictText,
} from '@/stores/incidents';
import { userNamer, useUsers } from '@/stores/users';
import { inOpenIncident } from '@/stores/anomalies';
import { useDeviceLabel } from '@/stores/devices';
import { uniquePrefix } from '@/lib/ids';
import { AnomalyContext } from '@/components/AnomalyContext';
import { fmtTime } from '@/lib/utils';

export default function IncidentDetailPage() {
  const { id = '' } = useParams();
  const { detail, detailError, detailLoading, open, close, refreshDetail } = useIncidents();
  const me = useAuth((s) => s.user);
  const users = useUsers();
  const loadUsers = users.load;
  useEffect(() => {
    void open(id);
    void loadUsers();
    return () => close();
  }, [id, open, close, loadUsers]);

  const d = detail && detail.id === id ? detail : null;
  const nameOf = useMemo(
    () =>
      userNamer(users.items, me, [
        ...(d?.assigned_to ? [[d.assigned_to, d.assignee_name] as [string, string | null]] : []),
        ...(d?.timeline ?? []).map((e) => [e.actor, e.actor_name] as [string, string | null | undefined]),
      ]),
    [users.items, me, d],
  );

  if (detailError && !d)
    return (
      <div>
        <BackLink />
        <Card><ErrorState message={detailError} onRetry={refreshDetail} /></Card>
      </div>
    );
  if (!d) return <div><BackLink /><Loading label="Loading incident…" /></div>;

  const canWork = can(me?.role, 'work_incidents');
  return (
    <div className="space-y-4">
      <BackLink />
      <PageHeader title={d.title} description={`Opened ${fmtTime(d.created_at)}${d.origin === 'auto' ? ' automatically' : ''}`}>
        <Badge variant={d.status === 'resolved' ? 'success' : d.status === 'investigating' ? 'warning' : 'default'} data-testid="incident-status">
          {STATUS_LABEL[d.status]}
        </Badge>
        <SeverityBadge severity={d.severity} />
        {detailLoading && <Loader2 className="size-4 animate-spin text-muted-foreground" aria-label="Refreshing" />}
      </PageHeader>
      <div className="grid gap-4 lg:grid-cols-[1fr_360px]">
        <div className="min-w-0 space-y-4">
          {canWork && <Actions d={d} nameOf={nameOf} />}
          {d.anomalies.length > 0 && (
            <Card>
              <CardHeader>
                <CardTitle>Context</CardTitle>
                <CardDescription>{d.anomalies[0].device_name} · {d.anomalies[0].metric}, around the first anomaly</CardDescription>
              </CardHeader>
              <CardContent>
                <AnomalyContext a={d.anomalies[0]} others={d.anomalies} />
              </CardContent>
            </Card>
          )}
          <Timeline d={d} nameOf={nameOf} canWork={canWork} />
        </div>
        <div className="space-y-4">
          <Facts d={d} nameOf={nameOf} />
          <LinkedAnomalies d={d} canWork={canWork} />
        </div>
      </div>
    </div>
  );
}

function BackLink() {
  return (
    <Link to="/incidents" className="mb-2 inline-flex items-center gap-1 rounded text-sm text-primary hover:underline focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring">
      <ArrowLeft className="size-4" aria-hidden /> All incidents
    </Link>
  );
}

function Actions({ d, nameOf }: { d: IncidentDetail; nameOf: (id: string) => string | undefined }) {
  const me = useAuth((s) => s.user);
  const isAdmin = can(me?.role, 'admin');
  const users = useUsers((s) => s.items);
  const update = useIncidents((s) => s.update);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [resolving, setResolving] = useState(false);

  async function run(patch: Parameters<typeof update>[1]) {
    setBusy(true);
    setError(null);
    try {
      await update(d.id, patch);
    } catch (e) {
      setError(incidentErrorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  const candidates = assignableUsers(users);
  // an assignee missing from the list (disabled since, or list not visible) stays selectable
  const assigneeMissing = d.assigned_to && !candidates.some((u) => u.id === d.assigned_to);

  return (
    <Card>
      <CardHeader>
        <CardTitle>Work on it</CardTitle>
        <CardDescription>New → Investigating → Resolved; a resolved incident can be reopened.</CardDescription>
      </CardHeader>
      <CardContent className="space-y-3">
        <div className="flex flex-wrap items-end gap-3">
          <div className="flex flex-wrap gap-2">
            {nextStatuses(d.status).map((n) =>
              n.to === 'resolved' ? (
                <Button key={n.to} disabled={busy} onClick={() => setResolving(true)}><CircleCheck aria-hidden /> Resolve…</Button>
              ) : (
                <Button key={n.to} disabled={busy} variant={d.status === 'resolved' ? 'outline' : 'default'} onClick={() => run({ status: n.to })}>
                  {d.status === 'resolved' ? <RotateCcw aria-hidden /> : <CirclePlay aria-hidden />} {n.label}
                </Button>
              ),
            )}
          </div>
          <div className="ml-auto flex flex-wrap items-end gap-2">
            {(isAdmin || candidates.length > 0) && (
              <div className="space-y-1.5">
                <Label htmlFor="assignee">Assignee</Label>
                <NativeSelect
                  id="assignee"
                  className="w-56"
                  disabled={busy}
                  value={d.assigned_to ?? ''}
                  onChange={(e) => run({ assigned_to: e.target.value || null })}
                >
                  <option value="">Unassigned</option>
                  {assigneeMissing && <option value={d.assigned_to!}>{nameOf(d.assigned_to!) ?? d.assigned_to}</option>}
                  {candidates.map((u) => (
                    <option key={u.id} value={u.id}>{u.id === me?.id ? `${u.name || u.email} (you)` : u.name || u.email} · {u.role}</option>
                  ))}
                </NativeSelect>
              </div>
            )}
            {!isAdmin &&
              (d.assigned_to === me?.id ? (
                <Button variant="outline" disabled={busy} onClick={() => run({ assigned_to: null })}><UserRound aria-hidden /> Unassign me</Button>
              ) : (
                <Button variant="outline" disabled={busy} onClick={() => run({ assigned_to: me!.id })}><UserRound aria-hidden /> Assign to me</Button>
              ))}
          </div>
        </div>
        {error && <p role="alert" className="rounded-md bg-destructive/15 p-2 text-sm text-destructive" data-testid="incident-error">{error}</p>}
      </CardContent>
      <ResolveDialog
        open={resolving}
        onOpenChange={setResolving}
        onResolve={async (verdict) => {
          await run({ status: 'resolved', verdict });
          setResolving(false);
        }}
      />
    </Card>
  );
}

function ResolveDialog({ open, onOpenChange, onResolve }: { open: boolean; onOpenChange: (o: boolean) => void; onResolve: (v: Verdict) => Promise<void> }) {
  const [verdict, setVerdict] = useState<Verdict>('confirmed');
  const [busy, setBusy] = useState(false);
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <form
          className="space-y-4"
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            try {
              await onResolve(verdict);
            } finally {
              setBusy(false);
            }
          }}
        >
          <DialogHeader>
            <DialogTitle>Resolve incident</DialogTitle>
            <DialogDescription>The verdict also resolves every linked anomaly and is fed back to the detectors.</DialogDescription>
          </DialogHeader>
          <fieldset className="space-y-2">
            <legend className="mb-1 text-sm font-medium">Verdict</legend>
            {([
              ['confirmed', 'Confirmed', 'A real problem: the anomalies were right.'],
              ['false_positive', 'False positive', 'Nothing was wrong: the detectors learn from it.'],
            ] as const).map(([v, label, help]) => (
              <label key={v} className="flex cursor-pointer items-start gap-3 rounded-md border p-3 has-[:checked]:border-primary has-[:checked]:bg-accent">
                <input type="radio" name="verdict" value={v} checked={verdict === v} onChange={() => setVerdict(v)} className="mt-0.5 accent-[var(--primary)]" />
                <span>
                  <span className="block text-sm font-medium">{label}</span>
                  <span className="block text-xs text-muted-foreground">{help}</span>
                </span>
              </label>
            ))}
          </fieldset>
          <DialogFooter>
            <Button variant="outline" onClick={() => onOpenChange(false)}>Cancel</Button>
            <Button type="submit" disabled={busy}>{busy && <Loader2 className="animate-spin" aria-hidden />}Resolve incident</Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function Facts({ d, nameOf }: { d: IncidentDetail; nameOf: (id: string) => string | undefined }) {
  return (
    <Card>
      <CardHeader><CardTitle>Details</CardTitle></CardHeader>
      <CardContent>
        <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5 text-sm" data-testid="incident-facts">
          <dt className="text-muted-foreground">Status</dt>
          <dd>{STATUS_LABEL[d.status]}{d.verdict ? ` · ${verdictText(d.verdict)}` : ''}</dd>
          <dt className="text-muted-foreground">Assignee</dt>
          <dd data-testid="incident-assignee">{d.assigned_to ? d.assignee_name || nameOf(d.assigned_to) || d.assigned_to : 'Unassigned'}</dd>
          <dt className="text-muted-foreground">Device</dt>
          <dd>{d.device_id ? <Link className="text-primary hover:underline" to={`/devices/${d.device_id}`}>{d.device_name ?? d.device_id}</Link> : '—'}</dd>
          <dt className="text-muted-foreground">Opened</dt>
          <dd>{fmtTime(d.created_at)}{d.created_by ? ` by ${nameOf(d.created_by) ?? 'a user'}` : d.origin === 'auto' ? ' by iotad' : ''}</dd>
          <dt className="text-muted-foreground">Acknowledged</dt>
          <dd>{d.acknowledged_at ? `${fmtTime(d.acknowledged_at)} (after ${fmtDuration(d.time_to_acknowledge_ms)})` : 'not yet'}</dd>
          <dt className="text-muted-foreground">Resolved</dt>
          <dd>{d.resolved_at ? `${fmtTime(d.resolved_at)} (after ${fmtDuration(d.time_to_resolve_ms)})` : 'not yet'}</dd>
        </dl>
      </CardContent>
    </Card>
  );
}

function LinkedAnomalies({ d, canWork }: { d: IncidentDetail; canWork: boolean }) {
  const [linking, setLinking] = useState(false);
  return (
    <Card>
      <CardHeader className="flex-row items-center justify-between">
        <div>
          <CardTitle>Linked anomalies</CardTitle>
          <CardDescription>{d.anomaly_count} in this incident</CardDescription>
        </div>
        {canWork && d.status !== 'resolved' && (
          <Button variant="outline" size="sm" onClick={() => setLinking(true)}><Plus aria-hidden /> Link</Button>
        )}
      </CardHeader>
      <CardContent>
        {d.anomalies.length === 0 ? (
          <p className="text-sm text-muted-foreground">No anomalies you may see are linked.</p>
        ) : (
          <ul className="divide-y text-sm" aria-label="Linked anomalies" data-testid="incident-anomalies">
            {d.anomalies.map((a) => (
              <li key={a.id} className="space-y-1 py-2">
                <div className="flex flex-wrap items-center gap-2">
                  <SeverityBadge severity={a.severity} />
                  <Link className="font-medium text-primary hover:underline" to={`/anomalies?id=${a.id}`}>{a.device_name} · {a.metric}</Link>
                  {a.resolved && <Badge variant="secondary">{verdictText(a.verdict) || 'resolved'}</Badge>}
                </div>
                <p className="text-muted-foreground">{a.description}</p>
                <p className="text-xs text-muted-foreground">{fmtTime(a.detected_at)}</p>
              </li>
            ))}
          </ul>
        )}
      </CardContent>
      {canWork && <LinkDialog d={d} open={linking} onOpenChange={setLinking} />}
    </Card>
  );
}

/** Links one more open anomaly (of the incident's device first) to the incident. */
function LinkDialog({ d, open, onOpenChange }: { d: IncidentDetail; open: boolean; onOpenChange: (o: boolean) => void }) {
  const [list, setList] = useState<Anomaly[] | null>(null);
  const [choice, setChoice] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const refresh = useIncidents((s) => s.refreshDetail);
  const label = useDeviceLabel();
  useEffect(() => {
    if (!open) return;
    setList(null);
    setError(null);
    api
      .anomalies({ resolved: false, limit: 200 })
      .then((r) => {
        // an anomaly in another open incident cannot join this one (the server refuses)
        const linked = new Set(d.anomalies.map((a) => a.id));
        const items = r.items.filter((a) => !linked.has(a.id) && !inOpenIncident(a));
        items.sort((a, b) => Number(b.device_id === d.device_id) - Number(a.device_id === d.device_id) || b.detected_at - a.detected_at);
        setList(items);
        setChoice(items[0]?.id ?? '');
      })
      .catch((e) => setError((e as Error).message));
  }, [open, d]);
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <form
          className="space-y-4"
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            setError(null);
            try {
              await api.linkAnomaly(d.id, choice);
              await refresh();
              onOpenChange(false);
            } catch (err) {
              setError(incidentErrorMessage(err));
            } finally {
              setBusy(false);
            }
          }}
        >
          <DialogHeader>
            <DialogTitle>Link an anomaly</DialogTitle>
            <DialogDescription>Open anomalies in no other open incident, this incident’s device first.</DialogDescription>
          </DialogHeader>
          {error && <p role="alert" className="rounded-md bg-destructive/15 p-2 text-sm text-destructive">{error}</p>}
          {list === null && !error ? (
            <Loading />
          ) : list && list.length === 0 ? (
            <Empty title="No other open anomalies" />
          ) : list ? (
            <div className="space-y-1.5">
              <Label htmlFor="link-anomaly">Anomaly</Label>
              <NativeSelect id="link-anomaly" value={choice} onChange={(e) => setChoice(e.target.value)}>
                {list.map((a) => (
                  <option key={a.id} value={a.id}>{label(a.device_id, a.device_name)} · {a.metric} · {a.severity} · {fmtTime(a.detected_at)}</option>
                ))}
              </NativeSelect>
            </div>
          ) : null}
          <DialogFooter>
            <Button variant="outline" onClick={() => onOpenChange(false)}>Cancel</Button>
            <Button type="submit" disabled={busy || !choice}><Link2 aria-hidden /> Link anomaly</Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function Timeline({ d, nameOf, canWork }: { d: IncidentDetail; nameOf: (id: string) => string | undefined; canWork: boolean }) {
  const anomalyById = useMemo(() => new Map(d.anomalies.map((a) => [a.id, a])), [d.anomalies]);
  return (
    <Card>
      <CardHeader>
        <CardTitle>Timeline</CardTitle>
        <CardDescription>Every change and comment, oldest first</CardDescription>
      </CardHeader>
      <CardContent>
        <ol className="relative space-y-3 border-l pl-4" aria-label="Timeline" data-testid="incident-timeline">
          {d.timeline.map((e) => (
            <TimelineItem key={e.id} e={e} nameOf={nameOf} anomaly={e.detail?.anomaly_id ? anomalyById.get(e.detail.anomaly_id) : undefined} />
          ))}
        </ol>
        {canWork && <CommentForm id={d.id} />}
      </CardContent>
    </Card>
  );
}

function TimelineItem({ e, nameOf, anomaly }: { e: TimelineEvent; nameOf: (id: string) => string | undefined; anomaly?: IncidentDetail['anomalies'][number] }) {
  const who = nameOf(e.actor) ?? e.actor_name ?? `user ${uniquePrefix(e.actor, [])}`;
  return (
    <li className="relative text-sm" data-testid="timeline-item" data-kind={e.kind}>
      <span aria-hidden className={`absolute -left-[21px] top-1.5 size-2.5 rounded-full border-2 border-card ${e.kind === 'comment' ? 'bg-primary' : 'bg-muted-foreground'}`} />
      <p>
        <span className="font-medium">{who}</span>{' '}
        <span>{describeEvent(e, nameOf).replace(/^./, (c) => c.toLowerCase())}</span>
        <span className="ml-2 text-xs text-muted-foreground">{fmtTime(e.ts)}</span>
      </p>
      {e.kind === 'comment' && e.detail?.text && (
        <p className="mt-1 whitespace-pre-wrap rounded-md bg-muted p-2">{e.detail.text}</p>
      )}
      {anomaly && <p className="text-xs text-muted-foreground">{anomaly.device_name} · {anomaly.metric}: {anomaly.description}</p>}
    </li>
  );
}

function CommentForm({ id }: { id: string }) {
  const comment = useIncidents((s) => s.comment);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      className="mt-4 space-y-2"
      onSubmit={async (e) => {
        e.preventDefault();
        if (!text.trim()) return;
        setBusy(true);
        setError(null);
        try {
          await comment(id, text.trim());
          setText('');
        } catch (err) {
          setError(incidentErrorMessage(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <Label htmlFor="comment" className="flex items-center gap-1"><MessageSquare className="size-4" aria-hidden /> Comment</Label>
      <Textarea
        id="comment"
        maxLength={4000}
        placeholder="What did you find?"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) (e.currentTarget.form as HTMLFormElement).requestSubmit();
        }}
      />
      {error && <p role="alert" className="text-sm text-destructive">{error}</p>}
      <div className="flex items-center justify-between gap-2">
        <span className="text-xs text-muted-foreground">Ctrl+Enter to send</span>
        <Button type="submit" size="sm" disabled={busy || !text.trim()}>{busy ? <Loader2 className="animate-spin" aria-hidden /> : <Send aria-hidden />} Add comment</Button>
      </div>
    </form>
  );
}
