// uPlot time-series chart for one metric. Created once per (theme, rollup shape); new data goes
// through setData, so live updates cost one redraw. Rollups draw avg with a min-max band;
// anomalies draw as vertical markers with their expected range shaded; rule thresholds as
// dashed lines. Drag across the plot to zoom (onZoom gets the span, in ms); the x range comes
// from `zoom`, else `xRange`, else the data, every time data arrives, so live points never undo
// a zoom. Double-click asks to reset it. After every paint the container's data-points (drawn
// points or buckets) / data-count (points they hold) / data-last-ts / data-last-value (the
// newest live point when the series has one, else the last drawn) / data-x-min / data-x-max /
// data-painted-at / data-paints attributes are updated (e2e checks and bench/dashboard.mjs).
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Anomaly } from '@/api/types';
import type { Series } from '@/lib/shape';
import { useTheme } from '@/stores/theme';

export interface Threshold {
  value: number;
  label: string;
}

interface Props {
  metric: string;
  series: Series;
  anomalies?: Pick<Anomaly, 'id' | 'detected_at' | 'details'>[];
  height?: number;
  /** x range in ms when not zoomed; undefined = fit the data */
  xRange?: [number, number];
  /** zoomed x range in ms (wins over xRange) */
  zoom?: [number, number] | null;
  /** a drag selected [from, to] (ms); null = reset (double-click) */
  onZoom?: (r: [number, number] | null) => void;
  thresholds?: Threshold[];
  /** accessible name of the chart, default "Chart of <metric>" */
  label?: string;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function toUplotData(s: Series): uPlot.AlignedData {
  const x = s.ts.map((t) => t / 1000);
  if (s.min && s.max) return [x, s.value, s.min, s.max];
  return [x, s.value];
}

/** The x range to show (seconds): the zoom, else the window, else the data's own extent. */
export function xScaleRange(zoom: [number, number] | null | undefined, win: [number, number] | undefined, dataMin: number, dataMax: number): [number, number] {
  const r = zoom ?? win;
  if (r) return [r[0] / 1000, r[1] / 1000];
  return dataMin === dataMax ? [dataMin - 30, dataMax + 30] : [dataMin, dataMax];
}

/** Y range that also holds the thresholds, with a little headroom. */
export function yScaleRange(dataMin: number | null, dataMax: number | null, thresholds: number[]): [number, number] {
  const vals = [dataMin, dataMax, ...thresholds].filter((v): v is number => v != null && Number.isFinite(v));
  if (vals.length === 0) return [0, 1];
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (lo === hi) {
    const d = Math.abs(lo) * 0.1 || 1;
    lo -= d;
    hi += d;
  }
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

export function TimeSeriesChart({ metric, series, anomalies = [], height = 200, xRange, zoom, onZoom, thresholds = [], label }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const seriesRef = useRef(series);
  seriesRef.current = series;
  const anomaliesRef = useRef(anomalies);
  const rangeRef = useRef(xRange);
  const zoomRef = useRef(zoom);
  const onZoomRef = useRef(onZoom);
  const thresholdsRef = useRef(thresholds);
  anomaliesRef.current = anomalies;
  rangeRef.current = xRange;
  zoomRef.current = zoom;
  onZoomRef.current = onZoom;
  thresholdsRef.current = thresholds;
  const theme = useTheme((s) => s.theme);
  const rollup = !!(series.min && series.max);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const line = cssVar('--chart-1');
    const axis = { stroke: cssVar('--chart-axis'), grid: { stroke: cssVar('--chart-grid'), width: 1 }, ticks: { stroke: cssVar('--chart-grid') } };
    const anomalyColor = cssVar('--chart-anomaly');
    const expectedFill = cssVar('--chart-expected');
    const thresholdColor = cssVar('--chart-axis');
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
      // drag selects a span; the owner decides (zoom, refetch); double-click resets
      cursor: { drag: { x: true, y: false, setScale: false }, bind: { dblclick: () => null } },
      select: { show: true, left: 0, top: 0, width: 0, height: 0 },
      scales: {
        x: { time: true, range: (_u, min, max) => xScaleRange(zoomRef.current, rangeRef.current, min, max) },
        y: { range: (_u, min, max) => yScaleRange(min, max, thresholdsRef.current.map((t) => t.value)) },
      },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 4) return;
            const a = u.posToVal(u.select.left, 'x'), b = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            onZoomRef.current?.([Math.round(a * 1000), Math.round(b * 1000)]);
          },
        ],
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
            ctx.strokeStyle = thresholdColor;
            ctx.fillStyle = thresholdColor;
            ctx.lineWidth = 1;
            ctx.setLineDash([6, 4]);
            ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
            for (const t of thresholdsRef.current) {
              const y = u.valToPos(t.value, 'y', true);
              ctx.beginPath();
              ctx.moveTo(left, y);
              ctx.lineTo(left + width, y);
              ctx.stroke();
              // above the line, or below it when the line runs along the top edge
              const ty = y - 3 * devicePixelRatio < top + 12 * devicePixelRatio ? y + 12 * devicePixelRatio : y - 3 * devicePixelRatio;
              ctx.fillText(t.label, left + 4 * devicePixelRatio, ty);
            }
            ctx.setLineDash([]);
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
            const sr = seriesRef.current;
            el.dataset.count = String(sr.count ? sr.count.reduce((a, c) => a + c, 0) : xs.length);
            el.dataset.lastTs = sr.last ? String(sr.last.ts) : xs.length ? String(Math.round(xs[xs.length - 1] * 1000)) : '';
            el.dataset.lastValue = sr.last ? String(sr.last.value) : xs.length ? String(u.data[1][xs.length - 1]) : '';
            el.dataset.xMin = String(Math.round((u.scales.x.min ?? 0) * 1000));
            el.dataset.xMax = String(Math.round((u.scales.x.max ?? 0) * 1000));
            el.dataset.paintedAt = String(performance.now());
            el.dataset.paints = String(Number(el.dataset.paints ?? 0) + 1);
          },
        ],
      },
    };
    const u = new uPlot(opts, toUplotData(series), el);
    plot.current = u;
    const reset = () => onZoomRef.current?.(null);
    u.over.addEventListener('dblclick', reset);
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.over.removeEventListener('dblclick', reset);
      u.destroy();
      plot.current = null;
    };
    // series intentionally excluded: data updates go through setData below
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [theme, rollup, metric, height]);

  // new data, window or zoom: re-range x through the range function (zoom first)
  useEffect(() => {
    plot.current?.setData(toUplotData(series), true);
  }, [series, xRange?.[0], xRange?.[1], zoom?.[0], zoom?.[1]]);

  useEffect(() => {
    plot.current?.redraw(false, false);
  }, [anomalies, thresholds]);

  return (
    <div
      ref={host}
      role="img"
      aria-label={`${label ?? `Chart of ${metric}`}: ${series.ts.length} points${series.value.length ? `, latest ${series.value[series.value.length - 1]}` : ''}${zoom ? ', zoomed' : ''}`}
      data-testid={`chart-${metric}`}
      data-metric={metric}
      data-zoomed={zoom ? 'true' : undefined}
      className="w-full"
    />
  );
}
