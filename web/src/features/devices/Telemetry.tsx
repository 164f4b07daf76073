// Telemetry of one device: one chart per metric (data metrics, or the sys.* security counters).
// Range: Live (the last 15 min as 1 s rollups, stream points folded into the same buckets),
// 1 h / 24 h / 7 d (server rollups), or an absolute span, all kept in the URL (?range=24h, ?range=24h&from=..&to=..). Dragging across a
// chart zooms every chart of the device: in Live the view stays on the span while points keep
// arriving; otherwise the span becomes the URL's range and is fetched at a finer resolution
// (Back, "Reset zoom" or a double-click return). Rule thresholds are dashed lines; anomalies
// are markers with their expected range.
import { useEffect, useMemo, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { ChevronLeft, ChevronRight, ZoomOut } from 'lucide-react';
import { api, optional } from '@/api/client';
import type { Anomaly, Rule } from '@/api/types';
import { liveStream } from '@/api/stream';
import { Badge, SeverityBadge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { TimeSeriesChart } from '@/components/TimeSeriesChart';
import { TimeRangePicker } from '@/components/TimeRangePicker';
import { bucketStep, fmtStep, groupBuckets, groupRaw, mergeLiveBuckets, panWindow, RANGES, ruleThresholds, type RangeKey, type Series } from '@/lib/shape';
import { describeRange, rangeToParams, type TimeRange } from '@/lib/range';
import { fmtTime } from '@/lib/utils';

const isSys = (m: string) => m.startsWith('sys.');

/** The device view's range from the URL: a preset (live by default) and an optional absolute span. */
export function deviceRange(p: URLSearchParams): { key: RangeKey; abs: { from: number; to: number } | null } {
  const r = p.get('range');
  const key: RangeKey = r && r in RANGES ? (r as RangeKey) : 'live';
  const from = Number(p.get('from')), to = Number(p.get('to'));
  const abs = p.has('from') && p.has('to') && Number.isFinite(from) && Number.isFinite(to) && from < to ? { from, to } : null;
  return { key, abs };
}

export function Telemetry({ deviceId, deviceType, security }: { deviceId: string; deviceType: string; security: boolean }) {
  const [params, setParams] = useSearchParams();
  const { key, abs } = deviceRange(params);
  const live = key === 'live' && !abs;
  const r = RANGES[key];
  // min/max/avg per ~pixel bucket over the span, Live included (1 s buckets over 15 min): the
  // work per chart is bounded however many points the span holds or a device sends per second
  const step = bucketStep(abs ? abs.to - abs.from : r.windowMs);
  const [series, setSeries] = useState<Record<string, Series>>({});
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [anomalies, setAnomalies] = useState<Anomaly[]>([]);
  const [rules, setRules] = useState<Rule[]>([]);
  const [now, setNow] = useState(Date.now());
  const [gen, setGen] = useState(0);
  const [liveZoom, setLiveZoom] = useState<[number, number] | null>(null);

  useEffect(() => {
    let cancelled = false;
    setLoading(true);
    setError(null);
    const to = abs ? abs.to : Date.now();
    const from = abs ? abs.from : to - r.windowMs;
    api
      .data(deviceId, { from, to: abs ? to : undefined, step })
      .then((d) => {
        if (cancelled) return;
        setSeries(d.buckets ? groupBuckets(d.buckets) : groupRaw(d.points ?? []));
        setNow(Date.now());
      })
      .catch((e) => !cancelled && setError((e as Error).message))
      .finally(() => !cancelled && setLoading(false));
    optional(api.anomalies({ device_id: deviceId, from, to, limit: 200 }), { items: [] })
      .then((a) => !cancelled && setAnomalies(a.data.items))
      .catch(() => !cancelled && setAnomalies([]));
    return () => {
      cancelled = true;
    };
  }, [deviceId, key, abs?.from, abs?.to, r.windowMs, step, gen]);

  useEffect(() => {
    optional(api.rules(), { items: [] }).then((x) => setRules(x.data.items), () => setRules([]));
  }, [deviceId]);

  // Live: append stream points; slide the window every second (a zoom stays where it is).
  useEffect(() => {
    if (!live) return;
    const off = liveStream.on((m) => {
      if (m.type === 'points' && m.device_id === deviceId) {
        // only the charts whose series changed redraw: each live window ends at its own newest
        // point (or now, which ticks every second), see chartRange
        setSeries((s) => mergeLiveBuckets(s, m.points, step, r.windowMs, Date.now()));
      } else if (m.type === 'anomaly' && m.anomaly?.device_id === deviceId) {
        setAnomalies((a) => [m.anomaly, ...a.filter((x) => x.id !== m.anomaly.id)]);
      }
    });
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      off();
      clearInterval(t);
    };
  }, [deviceId, live, r.windowMs, step]);
  useEffect(() => setLiveZoom(null), [live, deviceId]);

  const metrics = useMemo(() => Object.keys(series).filter((m) => isSys(m) === security).sort(), [series, security]);
  // per-metric anomalies and thresholds, the same arrays until they change (a new array redraws
  // the chart: a live point must not redraw every chart of the device)
  const metricKey = metrics.join('\n');
  const overlayMap = useMemo(() => {
    const out = new Map<string, { am: Anomaly[]; th: ReturnType<typeof ruleThresholds> }>();
    for (const m of metricKey.split('\n')) out.set(m, { am: anomalies.filter((a) => a.metric === m), th: ruleThresholds(rules, deviceId, deviceType, m) });
    return out;
  }, [metricKey, anomalies, rules, deviceId, deviceType]);
  const overlays = (m: string) => overlayMap.get(m) ?? { am: [], th: [] };
  const xRange: [number, number] = abs ? [abs.from, abs.to] : [now - r.windowMs, now];
  const chartRange = (sr: Series): [number, number] => {
    if (!live) return xRange;
    const end = Math.max(now, sr.ts.length ? sr.ts[sr.ts.length - 1] : 0);
    return [end - r.windowMs, end];
  };
  const zoom = live ? liveZoom : null;
  const zoomed = live ? !!liveZoom : !!abs;

  function go(next: URLSearchParams, push = false) {
    next.set('tab', params.get('tab') ?? (security ? 'security' : 'telemetry'));
    setParams(next, { replace: !push });
  }
  function pick(k: RangeKey) {
    const p = new URLSearchParams(params);
    p.delete('from');
    p.delete('to');
    p.set('range', k);
    go(p);
  }
  function onZoom(z: [number, number] | null) {
    if (live) return setLiveZoom(z);
    if (!z) return resetZoom();
    const p = rangeToParams({ from: z[0], to: z[1] }, params);
    p.set('range', key); // the preset to return to
    go(p, true);
  }
  /** Earlier / later by half the span (Live becomes an absolute span). */
  function pan(frac: number) {
    const [f, t] = live && liveZoom ? liveZoom : xRange;
    const p = rangeToParams(panWindow(f, t, frac, Date.now()), params);
    p.set('range', key);
    go(p, true);
  }
  function resetZoom() {
    if (live) return setLiveZoom(null);
    pick(key);
  }
  const custom: TimeRange = abs ? { from: abs.from, to: abs.to } : { preset: '1h' };

  return (
    <div className="space-y-3" data-loading={loading ? 'true' : undefined}>
      <div className="flex flex-wrap items-end gap-2">
        <div role="radiogroup" aria-label="Time range" className="inline-flex rounded-md border bg-card p-0.5">
          {(Object.keys(RANGES) as RangeKey[]).map((k) => (
            <button
              key={k}
              role="radio"
              aria-checked={key === k && !abs}
              onClick={() => pick(k)}
              className={`cursor-pointer rounded px-3 py-1 text-sm focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring ${key === k && !abs ? 'bg-primary text-primary-foreground' : 'hover:bg-accent'}`}
            >
              {RANGES[k].label}
            </button>
          ))}
        </div>
        <TimeRangePicker
          label="Custom time range"
          presets={[]}
          value={custom}
          onChange={(t) => {
            if ('preset' in t) return;
            const p = rangeToParams(t, params);
            p.set('range', key);
            go(p, true);
          }}
        />
        <span className="text-xs text-muted-foreground" data-testid="range-note">
          {abs
            ? `${describeRange({ from: abs.from, to: abs.to })} · ${fmtStep(step)} buckets: average with min–max band`
            : live
              ? `Last 15 minutes in ${fmtStep(step)} buckets, updating live`
              : `Rollups: ${fmtStep(step)} buckets, average with min–max band`}
          {' · drag across a chart to zoom'}
        </span>
        <div className="inline-flex gap-1">
          <Button size="sm" variant="outline" onClick={() => pan(-0.5)} aria-label="Earlier" title="Earlier (half the span)">
            <ChevronLeft aria-hidden />
          </Button>
          <Button size="sm" variant="outline" onClick={() => pan(0.5)} aria-label="Later" title="Later (half the span)" disabled={live || (abs ? abs.to >= now : true)}>
            <ChevronRight aria-hidden />
          </Button>
        </div>
        {zoomed && (
          <Button size="sm" variant="outline" onClick={resetZoom}>
            <ZoomOut aria-hidden /> Reset zoom
          </Button>
        )}
      </div>
      {live && liveZoom && (
        <p className="text-xs text-muted-foreground" role="status">
          Zoomed to {fmtTime(liveZoom[0])} – {fmtTime(liveZoom[1])}; new points keep arriving.
        </p>
      )}
      {error ? (
        <ErrorState message={error} onRetry={() => setGen((g) => g + 1)} />
      ) : loading && metrics.length === 0 ? (
        <Loading label="Loading telemetry…" />
      ) : metrics.length === 0 ? (
        <Card>
          <Empty title={security ? 'No security metrics yet' : 'No telemetry in this range'}>
            {security
              ? 'Connection and authentication counters (sys.*) appear once the device connects.'
              : live
                ? 'Waiting for the device to publish. New points appear here as they arrive.'
                : 'Pick another range or wait for data.'}
          </Empty>
        </Card>
      ) : (
        <div className="grid gap-3 xl:grid-cols-2">
          {metrics.map((m) => {
            const { am, th } = overlays(m);
            return (
              <Card key={m}>
                <CardHeader className="flex-row items-center justify-between">
                  <CardTitle>{m}</CardTitle>
                  {am.length > 0 && <Badge variant="destructive">{am.length} anomal{am.length === 1 ? 'y' : 'ies'}</Badge>}
                </CardHeader>
                <CardContent>
                  <TimeSeriesChart metric={m} series={series[m]} anomalies={am} xRange={chartRange(series[m])} zoom={zoom} onZoom={onZoom} thresholds={th} />
                </CardContent>
              </Card>
            );
          })}
        </div>
      )}
      {!security && anomalies.length > 0 && (
        <Card>
          <CardHeader>
            <CardTitle>Anomalies in range</CardTitle>
          </CardHeader>
          <CardContent>
            <ul className="divide-y text-sm">
              {anomalies.slice(0, 20).map((a) => (
                <li key={a.id} className="flex flex-wrap items-center gap-2 py-2">
                  <SeverityBadge severity={a.severity} />
                  <span className="font-medium">{a.metric}</span>
                  <span className="text-muted-foreground">{a.description}</span>
                  <span className="ml-auto text-xs text-muted-foreground">{fmtTime(a.detected_at)}</span>
                </li>
              ))}
            </ul>
          </CardContent>
        </Card>
      )}
    </div>
  );
}
