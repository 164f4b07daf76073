// Anomaly feed: filters (severity, open/resolved, device; kept in the URL so links such as the
// Overview's counts land on the same list), live additions from the stream, an explanation
// panel per anomaly (score, value vs expected range, detector scores, its incident), the
// confirm / false-positive verdict for analysts and admins, and "open an incident" from one or
// several selected anomalies (offering the open incident that already holds some of them).
// `?id=` (the link in alert messages) opens that anomaly's explanation.
// The list holds up to 500 anomalies and live ones keep arriving (a first run streams hundreds a
// second): it is virtualized (only the rows in view are in the DOM) and its rows are memoized,
// so a stream update renders the few rows that changed (docs/dashboard.md, "Anomalies under a
// stream").
import { memo, useCallback, useEffect, useRef, useState } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { Link, useSearchParams } from 'react-router-dom';
import { Check, RefreshCw, Siren, X } from 'lucide-react';
import { api } from '@/api/client';
import type { Anomaly } from '@/api/types';
import { PageHeader } from '@/components/Layout';
import { Button } from '@/components/ui/button';
import { Badge, SeverityBadge } from '@/components/ui/badge';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { NativeSelect } from '@/components/ui/input';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { DevicePicker } from '@/components/DevicePicker';
import { AnomalyContext } from '@/components/AnomalyContext';
import { filterFromParams, inOpenIncident, paramsFromFilter, useAnomalies, type AnomalyFilter } from '@/stores/anomalies';
import { useAuth, can } from '@/stores/auth';
import { useDeviceLabel, useDevices } from '@/stores/devices';
import { STATUS_LABEL } from '@/stores/incidents';
import { fmtNumber, fmtTime } from '@/lib/utils';
import { NewIncidentDialog } from '@/features/incidents/NewIncidentDialog';

export default function AnomaliesPage() {
  const { items, total, available, loading, error, filter, setFilter, load, resolve } = useAnomalies();
  const role = useAuth((s) => s.user?.role);
  const loadDevices = useDevices((s) => s.load);
  const [params, setParams] = useSearchParams();
  const [selected, setSelected] = useState<string | null>(params.get('id'));
  const [linked, setLinked] = useState<Anomaly | null>(null); // ?id= not in the current list
  const [picked, setPicked] = useState<Set<string>>(() => new Set());
  const [creating, setCreating] = useState(false);
  const [opError, setOpError] = useState<string | null>(null);
  // the filters come from the URL when it has them (links from the Overview), else stay as left
  useEffect(() => {
    const f = filterFromParams(params);
    if (f) setFilter(f);
    else void load();
    void loadDevices();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const changeFilter = (f: Partial<AnomalyFilter>) => {
    const next = { ...filter, ...f };
    setFilter(f);
    setParams(paramsFromFilter(next, params.get('id')), { replace: true });
  };
  const idParam = params.get('id');
  useEffect(() => {
    if (!idParam) return;
    setSelected(idParam);
    api.anomaly(idParam).then(setLinked, (e) => setOpError((e as Error).message));
  }, [idParam]);
  const label = useDeviceLabel();
  const nameOf = (a: Anomaly) => label(a.device_id, a.device_name);
  const sel = items.find((a) => a.id === selected) ?? (linked && linked.id === selected ? linked : null);
  const canWork = can(role, 'work_anomalies');
  const canOpenIncident = can(role, 'work_incidents');
  // live anomalies carry no device name: take it from the fleet for the incident title
  const pickedList = items.filter((a) => picked.has(a.id)).map((a) => (a.device_name ? a : { ...a, device_name: nameOf(a) }));
  const toggle = useCallback(
    (id: string) =>
      setPicked((p) => {
        const n = new Set(p);
        if (n.has(id)) n.delete(id);
        else n.add(id);
        return n;
      }),
    [],
  );
  // on a phone (one column) the explanation is below the list: picking a row brings it to view
  const explanation = useRef<HTMLDivElement>(null);
  const select = useCallback((id: string) => {
    setSelected(id);
    if (window.matchMedia?.('(max-width: 1023.98px)').matches)
      requestAnimationFrame(() => explanation.current?.scrollIntoView({ block: 'start', behavior: 'smooth' }));
  }, []);
  const scroller = useRef<HTMLDivElement>(null);
  const rv = useVirtualizer({
    count: items.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_ESTIMATE,
    getItemKey: (i) => items[i].id,
    overscan: 6,
  });

  return (
    <div className="space-y-3">
      <PageHeader
        title="Anomalies"
        description={`Detected as data arrives; new ones appear here live${total ? ` · ${total > items.length ? `newest ${items.length.toLocaleString()} of ` : ''}${total.toLocaleString()} matching` : ''}`}
      >
        <Button variant="outline" onClick={() => load()} aria-label="Reload anomalies">
          <RefreshCw className={loading ? 'animate-spin' : ''} />
        </Button>
      </PageHeader>
      <div className="flex flex-wrap gap-2">
        <NativeSelect className="w-40" aria-label="Severity" value={filter.severity} onChange={(e) => changeFilter({ severity: e.target.value as typeof filter.severity })}>
          <option value="">All severities</option>
          <option value="critical">Critical</option>
          <option value="warning">Warning</option>
          <option value="info">Info</option>
        </NativeSelect>
        <NativeSelect className="w-36" aria-label="State" value={filter.resolved} onChange={(e) => changeFilter({ resolved: e.target.value as typeof filter.resolved })}>
          <option value="false">Open</option>
          <option value="true">Resolved</option>
          <option value="">All</option>
        </NativeSelect>
        <DevicePicker className="w-56" aria-label="Device" noneLabel="All devices" value={filter.device_id} onChange={(id) => changeFilter({ device_id: id })} />
      </div>
      {canOpenIncident && items.length > 0 && (
        <div className="flex min-h-9 flex-wrap items-center gap-2 text-sm" data-testid="anomaly-selection">
          {pickedList.length === 0 ? (
            <span className="text-muted-foreground">Select anomalies to open an incident from them.</span>
          ) : (
            <>
              <span role="status">{pickedList.length} selected</span>
              <Button size="sm" onClick={() => setCreating(true)}><Siren aria-hidden /> Open incident</Button>
              <Button size="sm" variant="ghost" onClick={() => setPicked(new Set())}>Clear selection</Button>
            </>
          )}
        </div>
      )}
      {opError && <p role="alert" className="text-sm text-destructive">{opError}</p>}
      <div className="grid gap-3 lg:grid-cols-[1fr_380px]">
        <Card className="min-w-0">
          {error ? (
            <ErrorState message={error} onRetry={load} />
          ) : loading && items.length === 0 ? (
            <Loading />
          ) : !available ? (
            <Empty title="Anomaly detection is not available yet">This server does not expose the anomalies API yet. Telemetry and security events still work.</Empty>
          ) : items.length === 0 ? (
            <Empty title="No anomalies match">Nothing unusual was detected for these filters.</Empty>
          ) : (
            <div ref={scroller} className="max-h-[calc(100dvh-16.5rem)] overflow-auto" data-testid="anomaly-scroller">
              <ul aria-label="Anomalies" className="relative" style={{ height: rv.getTotalSize() }} data-testid="anomaly-list" data-count={items.length}>
                {rv.getVirtualItems().map((vi) => {
                  const a = items[vi.index];
                  return (
                    <AnomalyRow
                      key={a.id}
                      a={a}
                      index={vi.index}
                      count={items.length}
                      start={vi.start}
                      measure={rv.measureElement}
                      name={nameOf(a)}
                      selected={selected === a.id}
                      picked={picked.has(a.id)}
                      canPick={canOpenIncident}
                      onSelect={select}
                      onToggle={toggle}
                    />
                  );
                })}
              </ul>
            </div>
          )}
        </Card>
        <Card className="h-fit scroll-mt-2" ref={explanation}>
          <CardHeader>
            <CardTitle>Explanation</CardTitle>
          </CardHeader>
          <CardContent>
            {!sel ? (
              <p className="text-sm text-muted-foreground">Select an anomaly to see why it was flagged.</p>
            ) : (
              <Explanation
                a={sel}
                deviceName={nameOf(sel)}
                canWork={canWork}
                onVerdict={async (v) => {
                  setOpError(null);
                  try {
                    await resolve(sel.id, v);
                  } catch (e) {
                    setOpError((e as Error).message);
                  }
                }}
              />
            )}
          </CardContent>
        </Card>
      </div>
      {canOpenIncident && (
        <NewIncidentDialog anomalies={pickedList} open={creating} onOpenChange={setCreating} onCreated={() => setPicked(new Set())} />
      )}
    </div>
  );
}

const ROW_ESTIMATE = 69; // two lines of text (measured rows replace it)

interface RowProps {
  a: Anomaly;
  index: number;
  count: number;
  start: number;
  measure: (el: Element | null) => void;
  name: string;
  selected: boolean;
  picked: boolean;
  canPick: boolean;
  onSelect: (id: string) => void;
  onToggle: (id: string) => void;
}

/** One anomaly of the list; re-renders only when its own props change. */
const AnomalyRow = memo(function AnomalyRow({ a, index, count, start, measure, name, selected, picked, canPick, onSelect, onToggle }: RowProps) {
  const time = fmtTime(a.detected_at);
  return (
    <li
      ref={measure}
      data-index={index}
      aria-setsize={count}
      aria-posinset={index + 1}
      className="absolute left-0 top-0 flex w-full items-stretch border-b"
      style={{ transform: `translateY(${start}px)` }}
    >
      {canPick && (
        <label className="flex cursor-pointer items-center pl-4 pr-1">
          <input
            type="checkbox"
            className="size-4 accent-[var(--primary)]"
            checked={picked}
            onChange={() => onToggle(a.id)}
            aria-label={`Select ${name} ${a.metric} at ${time}`}
          />
        </label>
      )}
      <button
        onClick={() => onSelect(a.id)}
        aria-pressed={selected}
        className={`flex min-w-0 flex-1 cursor-pointer flex-wrap items-center gap-2 px-4 py-3 text-left text-sm hover:bg-accent/60 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-ring ${selected ? 'bg-accent' : ''}`}
      >
        <SeverityBadge severity={a.severity} />
        <span className="min-w-0 truncate font-medium">{name}</span>
        <span className="text-muted-foreground">{a.metric}</span>
        {a.resolved && <Badge variant="secondary">{a.verdict === 'false_positive' ? 'false positive' : a.verdict ?? 'resolved'}</Badge>}
        {inOpenIncident(a) && (
          <Badge variant="outline" data-testid="anomaly-incident">
            <Siren className="size-3" aria-hidden /> incident · {STATUS_LABEL[a.incident_status!]}
          </Badge>
        )}
        <span className="ml-auto text-xs text-muted-foreground">{time}</span>
        <span className="basis-full truncate text-muted-foreground">{a.description}</span>
      </button>
    </li>
  );
});

function Explanation({ a, deviceName, canWork, onVerdict }: { a: Anomaly; deviceName: string; canWork: boolean; onVerdict: (v: 'confirmed' | 'false_positive') => void }) {
  const d = a.details ?? {};
  return (
    <div className="space-y-3 text-sm">
      <p>{a.description}</p>
      <AnomalyContext a={a} />
      <dl className="grid grid-cols-2 gap-x-3 gap-y-1">
        <dt className="text-muted-foreground">Incident</dt>
        <dd data-testid="anomaly-incident-link">
          {a.incident_id ? (
            <Link className="text-primary hover:underline" to={`/incidents/${a.incident_id}`}>
              {a.incident_title || 'incident'} ({STATUS_LABEL[a.incident_status ?? 'new']})
            </Link>
          ) : (
            'none'
          )}
        </dd>
        <dt className="text-muted-foreground">Device</dt>
        <dd><Link className="text-primary hover:underline" to={`/devices/${a.device_id}`}>{deviceName}</Link></dd>
        <dt className="text-muted-foreground">Metric</dt>
        <dd>{a.metric}</dd>
        <dt className="text-muted-foreground">Value</dt>
        <dd>{fmtNumber(d.value as number | undefined)}</dd>
        <dt className="text-muted-foreground">Expected</dt>
        <dd>{d.expected_lo != null && d.expected_hi != null ? `${fmtNumber(d.expected_lo)} – ${fmtNumber(d.expected_hi)}` : '—'}</dd>
        <dt className="text-muted-foreground">Score</dt>
        <dd>{fmtNumber(d.score as number | undefined, 3)}</dd>
      </dl>
      {Array.isArray(d.detectors) && d.detectors.length > 0 && (
        <div>
          <p className="mb-1 text-xs font-medium text-muted-foreground">Detectors</p>
          <ul className="space-y-1">
            {d.detectors.map((x) => (
              <li key={x.name} className="flex items-center gap-2">
                <span className="w-28 truncate">{x.name}</span>
                <div className="h-2 flex-1 rounded bg-muted" aria-hidden>
                  <div className="h-2 rounded bg-primary" style={{ width: `${Math.min(100, Math.max(0, x.score * 100))}%` }} />
                </div>
                <span className="w-12 text-right tabular-nums">{fmtNumber(x.score, 2)}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
      {a.resolved ? (
        <p className="text-muted-foreground">Resolved {fmtTime(a.resolved_at)} as {a.verdict === 'false_positive' ? 'false positive' : a.verdict ?? '—'}.</p>
      ) : canWork ? (
        <div className="space-y-2">
          {inOpenIncident(a) && (
            <p className="text-xs text-muted-foreground">
              In an open incident: once its last open anomaly is resolved, the incident is resolved with it.
            </p>
          )}
          <div className="flex gap-2">
          <Button size="sm" onClick={() => onVerdict('confirmed')}><Check aria-hidden /> Confirm</Button>
          <Button size="sm" variant="outline" onClick={() => onVerdict('false_positive')}><X aria-hidden /> False positive</Button>
          </div>
        </div>
      ) : null}
    </div>
  );
}
