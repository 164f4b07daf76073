// uPlot time-series chart for one metric. Created once per (theme, rollup shape); new data goes
// through setData, so live updates cost one redraw. Rollups draw avg with a min-max band;
// anomalies draw as vertical markers with their expected range shaded. After every paint the
// container's data-last-ts / data-points attributes are updated (used by e2e latency checks).
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Anomaly } from '@/api/types';
import type { Series } from '@/lib/shape';
import { useTheme } from '@/stores/theme';

interface Props {
  metric: string;
  series: Series;
  anomalies?: Anomaly[];
  height?: number;
  /** x range in ms; undefined = fit the data */
  xRange?: [number, number];
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function toUplotData(s: Series): uPlot.AlignedData {
  const x = s.ts.map((t) => t / 1000);
  if (s.min && s.max) return [x, s.value, s.min, s.max];
  return [x, s.value];
}

export function TimeSeriesChart({ metric, series, anomalies = [], height = 200, xRange }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const anomaliesRef = useRef(anomalies);
  const rangeRef = useRef(xRange);
  anomaliesRef.current = anomalies;
  rangeRef.current = xRange;
  const theme = useTheme((s) => s.theme);
  const rollup = !!(series.min && series.max);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const line = cssVar('--chart-1');
    const axis = { stroke: cssVar('--chart-axis'), grid: { stroke: cssVar('--chart-grid'), width: 1 }, ticks: { stroke: cssVar('--chart-grid') } };
    const anomalyColor = cssVar('--chart-anomaly');
    const expectedFill = cssVar('--chart-expected');
    const seriesOpts: uPlot.Series[] = [
      {},
      { label: rollup ? `${metric} (avg)` : metric, stroke: line, width: 1.5, points: { show: false } },
    ];
    if (rollup) {
      seriesOpts.push({ label: 'min', stroke: 'transparent', points: { show: false } });
      seriesOpts.push({ label: 'max', stroke: 'transparent', points: { show: false } });
    }
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      series: seriesOpts,
      bands: rollup ? [{ series: [3, 2], fill: cssVar('--chart-band') }] : undefined,
      axes: [axis, { ...axis, size: 60 }],
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: {
          time: true,
          range: (_u, min, max) => {
            const r = rangeRef.current;
            return r ? [r[0] / 1000, r[1] / 1000] : [min, max];
          },
        },
      },
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            const { left, top, width, height: h } = u.bbox;
            ctx.save();
            ctx.beginPath();
            ctx.rect(left, top, width, h);
            ctx.clip();
            for (const a of anomaliesRef.current) {
              const lo = a.details?.expected_lo, hi = a.details?.expected_hi;
              if (typeof lo === 'number' && typeof hi === 'number') {
                const x = u.valToPos(a.detected_at / 1000, 'x', true);
                const y1 = u.valToPos(hi, 'y', true), y2 = u.valToPos(lo, 'y', true);
                const span = Math.max(12, width / 20);
                ctx.fillStyle = expectedFill;
                ctx.fillRect(x - span, Math.min(y1, y2), span * 2, Math.abs(y2 - y1));
              }
            }
            ctx.strokeStyle = anomalyColor;
            ctx.lineWidth = 2;
            for (const a of anomaliesRef.current) {
              const x = u.valToPos(a.detected_at / 1000, 'x', true);
              ctx.beginPath();
              ctx.moveTo(x, top);
              ctx.lineTo(x, top + h);
              ctx.stroke();
            }
            ctx.restore();
            const xs = u.data[0];
            el.dataset.points = String(xs.length);
            el.dataset.lastTs = xs.length ? String(Math.round(xs[xs.length - 1] * 1000)) : '';
            el.dataset.lastValue = xs.length ? String(u.data[1][xs.length - 1]) : '';
            el.dataset.paintedAt = String(performance.now());
          },
        ],
      },
    };
    const u = new uPlot(opts, toUplotData(series), el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // series intentionally excluded: data updates go through setData below
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [theme, rollup, metric, height]);

  useEffect(() => {
    plot.current?.setData(toUplotData(series), true);
  }, [series, xRange]);

  useEffect(() => {
    plot.current?.redraw(false, false);
  }, [anomalies]);

  return (
    <div
      ref={host}
      role="img"
      aria-label={`Chart of ${metric}: ${series.ts.length} points${series.value.length ? `, latest ${series.value[series.value.length - 1]}` : ''}`}
      data-testid={`chart-${metric}`}
      data-metric={metric}
      className="w-full"
    />
  );
}
