// Context chart of an anomaly: the observed metric 30 minutes either side of its detection (up to
// now), with the detection marked and the expected range (when the detector gave one) shaded,
// and other anomalies of the same series marked too. Read as rollups like the device charts
// (min/max/avg per ~pixel bucket: 5 s over the hour), so a device sending 100 points a second
// costs the same ~720 buckets as one sending one a minute, and a spike stays in the min/max band.
import { useMemo } from 'react';
import { api } from '@/api/client';
import type { Anomaly } from '@/api/types';
import { bucketStep, groupBuckets, groupRaw } from '@/lib/shape';
import { useAsync } from '@/lib/useAsync';
import { fmtNumber } from '@/lib/utils';
import { TimeSeriesChart } from './TimeSeriesChart';
import { Skeleton } from './ui/states';

const SPAN = 30 * 60_000;
type A = Pick<Anomaly, 'id' | 'device_id' | 'metric' | 'detected_at' | 'details'>;

export function AnomalyContext({ a, others = [], height = 150 }: { a: A; others?: A[]; height?: number }) {
  const from = a.detected_at - SPAN;
  const to = Math.min(Date.now(), a.detected_at + SPAN);
  const q = useAsync(() => api.data(a.device_id, { metric: a.metric, from, to, step: bucketStep(to - from) }), [a.id]);
  const series = useMemo(() => {
    const d = q.data;
    const by = d?.buckets ? groupBuckets(d.buckets) : groupRaw(d?.points ?? []);
    return by[a.metric] ?? { ts: [], value: [] };
  }, [q.data, a.metric]);
  const marks = useMemo(() => [a, ...others.filter((o) => o.id !== a.id && o.metric === a.metric && o.device_id === a.device_id)], [a, others]);
  const lo = a.details?.expected_lo, hi = a.details?.expected_hi;
  return (
    <figure className="space-y-1" data-testid="anomaly-context">
      {q.error ? (
        <p className="text-xs text-muted-foreground">The data around it could not be loaded ({q.error}).</p>
      ) : !q.data ? (
        <Skeleton className="w-full" />
      ) : series.ts.length === 0 ? (
        <p className="text-xs text-muted-foreground">No stored points around it (retention may have removed them).</p>
      ) : (
        <TimeSeriesChart metric={a.metric} series={series} anomalies={marks} height={height} xRange={[from, to]} label={`Observed ${a.metric} 30 minutes around the anomaly`} />
      )}
      <figcaption className="text-xs text-muted-foreground">
        Observed {a.metric} ±30 min; the red line marks the detection
        {typeof lo === 'number' && typeof hi === 'number' ? `, the shade the expected range ${fmtNumber(lo)} – ${fmtNumber(hi)}` : ''}.
      </figcaption>
    </figure>
  );
}
