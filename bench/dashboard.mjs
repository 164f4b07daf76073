#!/usr/bin/env node
// Dashboard at scale (issue 15's targets), against a real iotad and the real dashboard in Debian
// chromium (playwright-core, the e2e harness):
//   - seeds 100,000 devices through POST /api/v1/devices/bulk and one device whose series `vib` holds
//     1,000,000 points over the last 24 h (HTTP ingest, batches of 50,000);
//   - device list: cold first rows (fresh browser context, empty cache, navigation start ->
//     first row painted), then search times in the page (input event -> result rows painted);
//   - chart: the 24 h view of the 1M-point series, scripted drag-zooms, pans (Earlier/Later) and
//     resets; longest frame from PerformanceObserver('long-animation-frame') and rAF deltas;
//   - publish -> painted: the same device in Live, points POSTed from the page (one clock), time
//     from the request start to the chart's draw that holds the point; p50/p99.
// Prints one JSON object on stdout (progress on stderr); screenshots to bench/results/dashboard-*.png.
//
//   node bench/dashboard.mjs [--devices 100000] [--points 1000000] [--publishes 100]
//                            [--data-dir DIR]   (seed once, reuse on later runs; kept)
// Needs: a Release build (build/iotad, or IOTAD_BIN), web/dist (`make web`), chromium.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
process.env.IOTAD_BIN ??= join(root, 'build/iotad');
const { ADMIN, Api, launchBrowser, pool, startIotad } = await import(join(root, 'web/e2e/harness.mjs'));

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const N_DEV = Number(opt('devices', 100000));
const N_PTS = Number(opt('points', 1000000));
const N_PUB = Number(opt('publishes', 100));
const dataDir = opt('data-dir', undefined);
const outDir = join(here, 'results');
mkdirSync(outDir, { recursive: true });
const log = (...a) => console.error('[dashboard]', ...a);
const out = { devices: N_DEV, points: N_PTS, loadavg_start: loadavg().map((x) => +x.toFixed(2)) };
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor((a.length * p) / 100))];
const r1 = (x) => Math.round(x * 10) / 10;

if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
const server = await startIotad({ dataDir, keepDataDir: !!dataDir });
const chrome = await launchBrowser();
try {
  const admin = await Api.login(server.base, ADMIN.email, ADMIN.password);
  const seedFile = dataDir ? join(dataDir, 'bench-seed.json') : null;
  let seed = seedFile && existsSync(seedFile) ? JSON.parse(readFileSync(seedFile, 'utf8')) : null;
  if (!seed || seed.devices !== N_DEV || seed.points !== N_PTS) {
    seed = await doSeed(admin);
    if (seedFile) writeFileSync(seedFile, JSON.stringify(seed));
  } else log('reusing the seeded data dir', dataDir);
  if (!argv.includes('--seed-only')) {
    await deviceList(seed);
    await chart(seed);
    await publishToPaint(seed);
  }
  out.loadavg_end = loadavg().map((x) => +x.toFixed(2));
  console.log(JSON.stringify(out));
} finally {
  await chrome.close();
  await server.stop({ keep: !!dataDir });
}

async function doSeed(admin) {
  const have = (await admin.req('GET', '/api/v1/devices?limit=1')).total;
  const types = ['thermostat', 'meter', 'camera', 'gateway', 'valve'];
  let t0 = Date.now();
  let done = 0;
  // POST /api/v1/devices/bulk, 1,000 a request (no keys: the list is what is measured), two
  // requests in flight (one transaction each); bench/devices_bulk.py compares with one by one
  const BULK = 1000, want = Math.max(0, N_DEV - 1 - have);
  const batches = Array.from({ length: Math.ceil(want / BULK) }, (_, k) => have + k * BULK);
  await pool(batches, 2, async (s) => {
    const devices = [];
    for (let i = s; i < Math.min(have + want, s + BULK); i++) devices.push({ name: `fleet-${String(i).padStart(6, '0')}`, type: types[i % 5], location: `Site ${i % 97}`, firmware: '2.0.0' });
    await admin.req('POST', '/api/v1/devices/bulk', { devices, keys: false }, 201);
    if (Math.floor((done + devices.length) / 10000) > Math.floor(done / 10000)) log(`${done + devices.length} devices`);
    done += devices.length;
  });
  out.seed_devices_per_s = Math.round(done / ((Date.now() - t0) / 1000));
  const dev = await admin.req('POST', '/api/v1/devices', { name: 'vibration-1m', type: 'meter', location: 'Bench' }, 201);
  const key = (await admin.req('POST', `/api/v1/devices/${dev.id}/keys`, { name: 'bench' }, 201)).key;
  // N_PTS points evenly over the last 24 h (ending 1 min ago), in time order
  const to = Date.now() - 60_000, from = to - 86_400_000;
  const dt = (to - from) / N_PTS;
  t0 = Date.now();
  const B = 50000;
  for (let s = 0; s < N_PTS; s += B) {
    const pts = [];
    for (let i = s; i < Math.min(N_PTS, s + B); i++) {
      const ts = Math.round(from + i * dt);
      pts.push({ metric: 'vib', ts, value: +(10 + 5 * Math.sin(ts / 3_600_000) + Math.sin(ts / 7000) + (((i * 2654435761) >>> 0) % 1000) / 1000).toFixed(3) });
    }
    const r = await fetch(`${server.base}/api/v1/ingest`, { method: 'POST', headers: { 'X-API-Key': key, 'Content-Type': 'application/json' }, body: JSON.stringify(pts) });
    if (r.status !== 202) throw new Error(`ingest ${r.status} ${await r.text()}`);
  }
  out.seed_points_per_s = Math.round(N_PTS / ((Date.now() - t0) / 1000));
  log(`seeded ${N_DEV} devices, ${N_PTS} points`);
  return { devices: N_DEV, points: N_PTS, deviceId: dev.id, key, from, to };
}

/** A logged-in browser context (session cookie from the API login, nothing cached). */
async function freshContext() {
  const ctx = await chrome.browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
  const r = await ctx.request.post(`${server.base}/api/v1/auth/login`, { data: { email: ADMIN.email, password: ADMIN.password } });
  if (!r.ok()) throw new Error(`login ${r.status()}`);
  return ctx;
}

async function deviceList(seed) {
  const cold = [];
  let page, ctx;
  for (let run = 0; run < 3; run++) {
    await ctx?.close();
    ctx = await freshContext();
    page = await ctx.newPage();
    page.setDefaultTimeout(60000);
    await page.goto(`${server.base}/devices`);
    await page.getByTestId('device-row').first().waitFor();
    cold.push(Math.round(await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(performance.now()))))));
  }
  out.list_cold_first_rows_ms = cold;
  // reference for this run's machine load: a fixed script (sort 200,000 numbers) in the same page
  out.calibration_sort200k_ms = await page.evaluate(() => {
    const runs = [];
    for (let k = 0; k < 3; k++) {
      let x = 12345;
      const a = Array.from({ length: 200000 }, () => (x = (x * 1103515245 + 12345) % 2147483648));
      const t0 = performance.now();
      a.sort((p, q) => p - q);
      runs.push(performance.now() - t0);
    }
    return Math.round(runs.sort((p, q) => p - q)[1]);
  });
  out.list_cold_first_rows_ms_median = med(cold);
  await page.screenshot({ path: join(outDir, 'dashboard-list-first-rows.png') });
  // everything loaded (the count reads "N of N devices")
  const total = seed.devices.toLocaleString('en-US');
  await page.getByText(new RegExp(`^${total} of ${total} devices`)).waitFor({ timeout: 120000 });
  out.list_all_loaded_ms = Math.round(await page.evaluate(() => performance.now()));

  // search: input event -> the rows of the result painted (measured in the page)
  const target = `fleet-${String(Math.floor(seed.devices * 0.77)).padStart(6, '0')}`;
  const queries = [target, 'fleet-0123', 'Site 42', 'camera', target.slice(0, 9), ''];
  const search = {};
  for (let rep = 0; rep < 3; rep++) {
    for (const q of queries) {
      const ms = await page.evaluate(async (q) => {
        const input = document.querySelector('input[aria-label="Search devices"]');
        const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
        const t0 = performance.now();
        setter.call(input, q);
        input.dispatchEvent(new Event('input', { bubbles: true }));
        const want = () => !!document.querySelector('[data-testid="device-row"]');
        for (;;) {
          await new Promise((r) => requestAnimationFrame(r));
          // the rows container names the query its rows are for
          const rows = document.querySelector('[data-testid="device-table"]');
          if (rows?.dataset.query === q && (want() || rows.dataset.count === '0')) return performance.now() - t0;
          if (performance.now() - t0 > 10000) return -1;
        }
      }, q);
      (search[q || '(clear)'] ??= []).push(r1(ms));
    }
  }
  out.search_ms = search;
  out.search_ms_worst_median = Math.max(...Object.values(search).map(med));
  // the device pickers search on the server (50 rows): median of 5 per query, fetch in the page;
  // a picker sends match=prefix (the start of the name: an index range) and falls back to the
  // substring search (match=contains, a scan of every device) when no name starts with the text
  out.api_search_ms = await page.evaluate(async (qs) => {
    const res = {};
    for (const [q, match] of qs) {
      const runs = [];
      for (let i = 0; i < 5; i++) {
        const s = performance.now();
        await (await fetch(`/api/v1/devices?q=${encodeURIComponent(q)}&match=${match}&sort=name&order=asc&limit=50`)).json();
        runs.push(performance.now() - s);
      }
      res[`${match} ${q}`] = Math.round(runs.sort((a, b) => a - b)[2]);
    }
    return res;
  }, [[target, 'prefix'], ['fleet-0123', 'prefix'], ['f', 'prefix'], [target, 'contains'], ['Site 42', 'contains']]);
  await page.getByLabel('Search devices').fill(target);
  await page.getByTestId('device-row').first().waitFor();
  await page.screenshot({ path: join(outDir, 'dashboard-list-search.png') });
  await ctx.close();
}

async function installFrameProbe(page) {
  await page.evaluate(() => {
    const w = window;
    w.__frames = { loaf: [], long: [], deltas: [], running: true };
    try {
      const po = new PerformanceObserver((l) => {
        for (const e of l.getEntries()) {
          w.__frames.loaf.push(e.duration);
          // what ran in a long frame (script attribution), for the report
          if (e.duration > 50)
            w.__frames.long.push({
              ms: Math.round(e.duration),
              blocking_ms: Math.round(e.blockingDuration ?? 0),
              render_ms: Math.round(e.renderStart ? e.startTime + e.duration - e.renderStart : 0),
              scripts: (e.scripts ?? []).filter((x) => x.duration >= 5).map((x) => `${x.invoker || x.invokerType} ${Math.round(x.duration)} ms`).slice(0, 4),
            });
        }
      });
      po.observe({ type: 'long-animation-frame', buffered: false });
      w.__frames.po = po;
    } catch {
      w.__frames.loafUnsupported = true;
    }
    let last = performance.now();
    const tick = (t) => {
      w.__frames.deltas.push(t - last);
      last = t;
      if (w.__frames.running) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

async function readFrameProbe(page) {
  return page.evaluate(() => {
    const f = window.__frames;
    f.running = false;
    f.po?.disconnect();
    const d = f.deltas.slice(1);
    const sorted = [...d].sort((a, b) => a - b);
    return {
      frames: d.length,
      max_raf_delta_ms: Math.round(sorted[sorted.length - 1] ?? 0),
      p99_raf_delta_ms: Math.round(sorted[Math.floor(sorted.length * 0.99)] ?? 0),
      raf_over_50ms: d.filter((x) => x > 50).length,
      loaf_supported: !f.loafUnsupported,
      longest_loaf_ms: Math.round(Math.max(0, ...f.loaf)),
      loaf_over_50ms: f.loaf.filter((x) => x > 50).length,
      long_frames: f.long.sort((a, b) => b.ms - a.ms).slice(0, 8),
    };
  });
}

async function chart(seed) {
  const ctx = await freshContext();
  const page = await ctx.newPage();
  page.setDefaultTimeout(60000);
  const t0 = Date.now();
  await page.goto(`${server.base}/devices/${seed.deviceId}?tab=telemetry&range=24h`);
  const chartSel = '[data-testid="chart-vib"]';
  await page.waitForFunction((s) => Number(document.querySelector(s)?.dataset.points) > 0, chartSel);
  out.chart_24h_first_paint_ms = Date.now() - t0;
  await page.screenshot({ path: join(outDir, 'dashboard-chart-24h.png') });
  const painted = () => page.evaluate((s) => document.querySelector(s).dataset.paintedAt, chartSel);
  // a step is done when the chart drew the new range's data and nothing is loading
  const settle = async (before, xmin0) => {
    await page.waitForFunction(
      ([s, b, x]) => {
        const el = document.querySelector(s);
        return el && el.dataset.paintedAt !== b && el.dataset.xMin !== x && !document.querySelector('[data-loading="true"]');
      },
      [chartSel, before, xmin0],
    );
    await page.waitForTimeout(100);
  };
  await installFrameProbe(page);
  const steps = [];
  const over = page.locator(`${chartSel} .u-over`);
  const xmin = () => page.evaluate((s) => document.querySelector(s).dataset.xMin, chartSel);
  const act = async (what, fn) => {
    const b = await painted(), x = await xmin();
    const s = Date.now();
    await fn();
    await settle(b, x);
    steps.push({ what, ms: Date.now() - s, points: Number(await page.evaluate((s) => document.querySelector(s).dataset.points, chartSel)) });
  };
  for (let z = 0; z < 5; z++) {
    await act('zoom', async () => {
      const box = await over.boundingBox();
      await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.55, box.y + box.height / 2, { steps: 8 });
      await page.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2, { steps: 8 });
      await page.mouse.up();
    });
    for (const dir of ['Earlier', 'Later', 'Later']) await act(`pan ${dir}`, () => page.getByRole('button', { name: dir }).click());
  }
  await page.screenshot({ path: join(outDir, 'dashboard-chart-zoomed.png') });
  await act('reset', () => page.getByRole('button', { name: 'Reset zoom' }).click());
  out.chart = { steps, ...(await readFrameProbe(page)) };
  out.chart_longest_frame_ms = Math.max(out.chart.longest_loaf_ms, out.chart.max_raf_delta_ms);
  await ctx.close();
}

async function publishToPaint(seed) {
  const ctx = await freshContext();
  const page = await ctx.newPage();
  page.setDefaultTimeout(60000);
  await page.goto(`${server.base}/devices/${seed.deviceId}?tab=telemetry&range=live`);
  // (a reused data dir's seeded points may be older than Live's 15 minutes)
  await fetch(`${server.base}/api/v1/ingest`, { method: 'POST', headers: { 'X-API-Key': seed.key, 'Content-Type': 'application/json' }, body: JSON.stringify({ ts: Date.now(), metrics: { vib: 10 } }) });
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="chart-vib"]')?.dataset.points) > 0);
  await page.waitForTimeout(1000);
  const lat = await page.evaluate(
    async ([key, n]) => {
      const el = document.querySelector('[data-testid="chart-vib"]');
      const res = [];
      for (let i = 0; i < n; i++) {
        const v = 1000 + i + Math.random() / 2;
        const val = String(+v.toFixed(4));
        const t0 = performance.now();
        const req = fetch('/api/v1/ingest', { method: 'POST', headers: { 'X-API-Key': key, 'Content-Type': 'application/json' }, body: JSON.stringify({ ts: Date.now(), metrics: { vib: +val } }) });
        for (;;) {
          await new Promise((r) => requestAnimationFrame(r));
          if (el.isConnected && el.dataset.lastValue === val) break;
          if (performance.now() - t0 > 5000) break;
        }
        res.push(el.dataset.lastValue === val ? Number(el.dataset.paintedAt) - t0 : -1);
        await req;
        await new Promise((r) => setTimeout(r, 100));
      }
      return res;
    },
    [seed.key, N_PUB],
  );
  const ok = lat.filter((x) => x >= 0);
  out.publish_to_paint_ms = { n: lat.length, lost: lat.length - ok.length, p50: r1(pct(ok, 50)), p99: r1(pct(ok, 99)), max: r1(Math.max(...ok)) };
  await page.screenshot({ path: join(outDir, 'dashboard-live.png') });
  await ctx.close();
}
