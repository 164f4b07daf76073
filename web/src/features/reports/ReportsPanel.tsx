// Generate a report (POST /reports: queued, built a slice at a time; progress polled while any is
// building), the stored reports with their downloads, and a preview of the selected one: the
// summary and the first rows of each table from its JSON document, and the PDF itself.
import { useEffect, useState } from 'react';
import { Download, Eye, FileText, Loader2, Play } from 'lucide-react';
import { api, reportUrl } from '@/api/client';
import type { Report, ReportDocument, ReportKind } from '@/api/types';
import { Button } from '@/components/ui/button';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Input, NativeSelect } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { DevicePicker } from '@/components/DevicePicker';
import { TimeRangePicker } from '@/components/TimeRangePicker';
import { resolveRange, type TimeRange } from '@/lib/range';
import { useAsync } from '@/lib/useAsync';
import { errorText } from '@/lib/latest';
import { fmtNumber, fmtTime } from '@/lib/utils';
import { useAuth } from '@/stores/auth';
import { humanKey, KIND_LABEL, kindsFor, pending, reportState } from './reports';

export function ReportsPanel() {
  const role = useAuth((s) => s.user?.role);
  const kinds = kindsFor(role);
  const list = useAsync(() => api.reports({ limit: 50 }), []);
  const [selected, setSelected] = useState<string | null>(null);
  const items = list.data?.items ?? [];
  const building = pending(items);
  // progress: poll while a report is queued or building
  useEffect(() => {
    if (!building) return;
    const t = setInterval(() => void list.reload(), 1000);
    return () => clearInterval(t);
  }, [building, list.reload]);
  const sel = items.find((r) => r.id === selected) ?? null;

  return (
    <div className="space-y-4">
      <GenerateForm kinds={kinds} onQueued={(r) => {
        setSelected(r.id);
        void list.reload();
      }} />
      <div className="grid gap-4 xl:grid-cols-[minmax(0,1fr)_minmax(0,1fr)]">
        <Card className="min-w-0">
          <CardHeader>
            <CardTitle>Reports</CardTitle>
            <CardDescription>Newest first, on demand and scheduled</CardDescription>
          </CardHeader>
          <CardContent>
            {list.error && !list.data ? (
              <ErrorState message={list.error} onRetry={list.reload} />
            ) : !list.data ? (
              <Loading label="Loading reports…" />
            ) : items.length === 0 ? (
              <Empty title="No reports yet">Generate one above, or add a schedule.</Empty>
            ) : (
              <ul className="divide-y" aria-label="Reports" data-testid="report-list">
                {items.map((r) => (
                  <ReportRow key={r.id} r={r} selected={r.id === selected} onPreview={() => setSelected(r.id)} />
                ))}
              </ul>
            )}
          </CardContent>
        </Card>
        <Card className="min-w-0">
          <CardHeader>
            <CardTitle>Preview</CardTitle>
            <CardDescription>{sel ? `${KIND_LABEL[sel.kind]} report, ${fmtTime(sel.from)} – ${fmtTime(sel.to)}` : 'Select a ready report'}</CardDescription>
          </CardHeader>
          <CardContent>
            {!sel ? (
              <p className="text-sm text-muted-foreground">Choose “Preview” on a report.</p>
            ) : sel.status !== 'done' ? (
              <p className="text-sm text-muted-foreground" role="status">{reportState(sel).label}{reportState(sel).pct !== null ? ` (${reportState(sel).pct} %)` : ''}…</p>
            ) : (
              <Preview id={sel.id} />
            )}
          </CardContent>
        </Card>
      </div>
    </div>
  );
}

function GenerateForm({ kinds, onQueued }: { kinds: ReportKind[]; onQueued: (r: Report) => void }) {
  const [kind, setKind] = useState<ReportKind>('security');
  const [range, setRange] = useState<TimeRange>({ preset: '24h' });
  const [deviceType, setDeviceType] = useState('');
  const [device, setDevice] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { from, to } = resolveRange(range);
      onQueued(await api.createReport({ kind, from, to, device_type: deviceType.trim() || undefined, device_id: device || undefined }));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <Card>
      <CardHeader>
        <CardTitle>Generate a report</CardTitle>
        <CardDescription>Built in the background; large ranges take a while</CardDescription>
      </CardHeader>
      <CardContent>
        <form onSubmit={submit} className="space-y-3" aria-label="Generate a report">
          <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-4">
            <div className="space-y-1.5">
              <Label htmlFor="rp-kind">Kind</Label>
              <NativeSelect id="rp-kind" value={kind} onChange={(e) => setKind(e.target.value as ReportKind)}>
                {kinds.map((k) => <option key={k} value={k}>{KIND_LABEL[k]}</option>)}
              </NativeSelect>
            </div>
            <div className="space-y-1.5">
              <Label htmlFor="rp-type">Device type</Label>
              <Input id="rp-type" placeholder="any" value={deviceType} onChange={(e) => setDeviceType(e.target.value)} />
            </div>
            <div className="space-y-1.5">
              <Label htmlFor="rp-device">Device</Label>
              <DevicePicker id="rp-device" aria-label="Device" noneLabel="All devices" value={device} onChange={setDevice} />
            </div>
            <div className="flex items-end">
              <Button type="submit" disabled={busy} className="w-full">
                {busy ? <Loader2 className="animate-spin" aria-hidden /> : <Play aria-hidden />} Generate
              </Button>
            </div>
          </div>
          <TimeRangePicker label="Report period" value={range} onChange={setRange} presets={['24h', '7d', '30d']} />
          {error && <p role="alert" className="text-sm text-destructive">{error}</p>}
        </form>
      </CardContent>
    </Card>
  );
}

function ReportRow({ r, selected, onPreview }: { r: Report; selected: boolean; onPreview: () => void }) {
  const st = reportState(r);
  return (
    <li className={`space-y-2 py-3 ${selected ? 'bg-accent/40' : ''}`} data-testid="report-row" data-status={r.status}>
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <FileText className="size-4 text-muted-foreground" aria-hidden />
        <span className="font-medium">{KIND_LABEL[r.kind]}</span>
        <span className="text-muted-foreground">{fmtTime(r.from)} – {fmtTime(r.to)}</span>
        {r.schedule_id != null && <Badge variant="outline">scheduled</Badge>}
        <Badge variant={st.tone} className="ml-auto">{st.label}</Badge>
      </div>
      {st.pct !== null && (
        <div className="h-1.5 overflow-hidden rounded bg-muted" role="progressbar" aria-label={`${KIND_LABEL[r.kind]} report progress`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={st.pct}>
          <div className="h-full bg-primary transition-all" style={{ width: `${st.pct}%` }} />
        </div>
      )}
      {r.status === 'done' && (
        <div className="flex flex-wrap items-center gap-2">
          <Button size="sm" variant={selected ? 'default' : 'outline'} onClick={onPreview} aria-label={`Preview the ${KIND_LABEL[r.kind]} report of ${fmtTime(r.created_at)}`}>
            <Eye aria-hidden /> Preview
          </Button>
          {(['pdf', 'csv', 'json'] as const).map((f) => (
            <Button key={f} size="sm" variant="ghost" asChild>
              <a href={reportUrl(r.id, f)} download aria-label={`Download the ${KIND_LABEL[r.kind]} report as ${f.toUpperCase()}`}>
                <Download aria-hidden /> {f.toUpperCase()}
              </a>
            </Button>
          ))}
          {r.sha256 && <span className="ml-auto truncate font-mono text-xs text-muted-foreground" title={`SHA-256 ${r.sha256}`}>sha256 {r.sha256.slice(0, 12)}…</span>}
        </div>
      )}
    </li>
  );
}

function Preview({ id }: { id: string }) {
  const doc = useAsync(() => api.reportDocument(id), [id]);
  const [pdf, setPdf] = useState<string | null>(null);
  const [pdfError, setPdfError] = useState<string | null>(null);
  useEffect(() => {
    setPdf(null);
    setPdfError(null);
  }, [id]);
  useEffect(() => () => {
    if (pdf) URL.revokeObjectURL(pdf);
  }, [pdf]);
  async function showPdf() {
    setPdfError(null);
    try {
      const res = await fetch(reportUrl(id, 'pdf'), { credentials: 'same-origin' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      setPdf(URL.createObjectURL(await res.blob()));
    } catch (e) {
      setPdfError(`The PDF could not be loaded (${errorText(e)})`);
    }
  }
  if (doc.error) return <ErrorState message={doc.error} onRetry={doc.reload} />;
  if (!doc.data) return <Loading label="Loading the report…" />;
  const d: ReportDocument = doc.data;
  return (
    <div className="space-y-4 text-sm" data-testid="report-preview">
      <h3 className="font-semibold">{d.title}</h3>
      <dl className="grid grid-cols-2 gap-2 sm:grid-cols-3" aria-label="Summary">
        {Object.entries(d.summary ?? {}).map(([k, v]) => (
          <div key={k} className="rounded-md border p-2">
            <dt className="text-xs text-muted-foreground">{humanKey(k)}</dt>
            <dd className="text-lg font-semibold tabular-nums">{v === null || v === undefined ? '—' : typeof v === 'number' ? fmtNumber(v) : String(v)}</dd>
          </div>
        ))}
      </dl>
      {d.audit_chain && (
        <p className={d.audit_chain.intact ? 'text-green-800 dark:text-green-200' : 'text-destructive'}>
          Audit chain {d.audit_chain.intact ? 'intact' : `broken at entry ${d.audit_chain.first_bad_seq} (${d.audit_chain.reason})`}
        </p>
      )}
      {Object.entries(d.sections ?? {}).map(([k, s]) => (
        <section key={k} aria-label={s.title} className="space-y-1">
          <h4 className="font-medium">{s.title}</h4>
          {s.note && <p className="text-xs text-muted-foreground">{s.note}</p>}
          {s.rows.length === 0 ? (
            <p className="text-xs text-muted-foreground">Nothing in this period.</p>
          ) : (
            <div className="relative overflow-x-auto" tabIndex={0} role="region" aria-label={`${s.title} (table)`}>
              <table className="w-full text-xs">
                <thead className="text-left text-muted-foreground">
                  <tr>{s.columns.map((c) => <th key={c} className="py-1 pr-3 font-medium">{humanKey(c)}</th>)}</tr>
                </thead>
                <tbody>
                  {s.rows.slice(0, 8).map((row, i) => (
                    <tr key={i} className="border-t">
                      {row.map((v, j) => <td key={j} className="max-w-48 truncate py-1 pr-3 tabular-nums">{v === null ? '—' : typeof v === 'number' ? fmtNumber(v) : String(v)}</td>)}
                    </tr>
                  ))}
                </tbody>
              </table>
              {s.rows.length > 8 && <p className="text-xs text-muted-foreground">{s.rows.length - 8} more rows in the CSV and JSON.</p>}
            </div>
          )}
        </section>
      ))}
      <div className="space-y-2 border-t pt-3">
        {!pdf ? (
          <Button size="sm" variant="outline" onClick={showPdf}><FileText aria-hidden /> Show the PDF</Button>
        ) : (
          <>
            {/* a blob: frame (the page's CSP allows frame-src blob:; API answers may not be framed) */}
            <iframe src={pdf} title={`${d.title} as PDF`} className="h-[32rem] w-full rounded-md border" data-testid="report-pdf" />
            <p className="text-xs text-muted-foreground">
              No PDF viewer in this browser? <a className="text-primary underline" href={pdf} download={`iotad-${d.kind}-report.pdf`}>Download it</a>.
            </p>
          </>
        )}
        {pdfError && <p role="alert" className="text-destructive">{pdfError}</p>}
      </div>
    </div>
  );
}
