#!/usr/bin/env node
// The Anomalies page under a stream of anomalies (issue 15; the walk once saw it take 194 s to
// settle for Admin at 1440 px during the first-run burst). Against a real iotad and the real
// dashboard in Debian chromium (playwright-core, the e2e harness), 1440x900, Admin:
//
//   burst (default): D devices (bulk), one device with an "above" rule; 500 open anomalies
//     made by HTTP ingest of alternating values (one anomaly per up-crossing), the page opened
//     on /anomalies, then R anomalies/s for S seconds published the same way (each also a
//     `points` stream message, and the fleet's online marks). Measured in the page: stream
//     messages received, longest frame (rAF deltas and long-animation-frame entries), frames
//     over 50 ms, time to settle (from the first publish to the page showing the burst's last
//     anomaly at the top of the list), rows in the DOM while 500+ exist; a V8 CPU profile of
//     the burst (CDP Profiler) with the functions taking the most self time.
//   firstrun (--simulate): iotad's simulated fleet (backfilled week, scripted scenario); the
//     page is opened at once and watched for W seconds: per 5 s window, messages by type and
//     the longest frame; then the time a fresh navigation to /anomalies takes to settle.
//
// Prints one JSON object on stdout (progress on stderr).
//
//   node bench/anomalies_page.mjs [--mode burst|firstrun] [--devices 10000] [--rate 20]
//        [--seconds 20] [--watch-s 150] [--dist DIR] [--profile]
// --dist: a build to serve (e.g. `npx vite build --minify false --outDir /tmp/dist-plain` for
// readable function names in the profile). Needs build/iotad (or IOTAD_BIN) and web/dist.
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
const MODE = opt('mode', 'burst');
const N_DEV = Number(opt('devices', 10000));
const RATE = Number(opt('rate', 20));
const SECONDS = Number(opt('seconds', 20));
const WATCH_S = Number(opt('watch-s', 150));
const dist = opt('dist', undefined);
const PROFILE = argv.includes('--profile');
const log = (...a) => console.error('[anomalies]', ...a);
const out = { mode: MODE, loadavg_start: loadavg().map((x) => +x.toFixed(2)) };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = await startIotad({ dist, args: MODE === 'firstrun' ? ['--simulate'] : [] });
const chrome = await launchBrowser();
try {
  const admin = await Api.login(server.base, ADMIN.email, ADMIN.password);
  if (MODE === 'firstrun') await firstRun();
  else await burst(admin);
  out.loadavg_end = loadavg().map((x) => +x.toFixed(2));
  console.log(JSON.stringify(out));
} finally {
  await chrome.close();
  await server.stop();
}

async function loggedIn() {
  const ctx = await chrome.browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
  const r = await ctx.request.post(`${server.base}/api/v1/auth/login`, { data: { email: ADMIN.email, password: ADMIN.password } });
  if (!r.ok()) throw new Error(`login ${r.status()}`);
  const page = await ctx.newPage();
  page.setDefaultTimeout(300000);
  // every stream message, by type, with the time it arrived (node clock)
  const msgs = [];
  page.on('websocket', (ws) =>
    ws.on('framereceived', (f) => {
      const s = typeof f.payload === 'string' ? f.payload : f.payload.toString();
      const m = /"type"\s*:\s*"([a-z_]+)"/.exec(s);
      msgs.push([Date.now(), m ? m[1] : '?']);
    }),
  );
  return { ctx, page, msgs };
}

/** rAF deltas and long-animation-frame entries, from now on (read with frameProbe.read). */
async function frameProbe(page) {
  await page.evaluate(() => {
    const w = window;
    w.__frames = { loaf: [], long: [], deltas: [], running: true };
    try {
      const po = new PerformanceObserver((l) => {
        for (const e of l.getEntries()) {
          w.__frames.loaf.push([performance.timeOrigin + e.startTime, e.duration]);
          if (e.duration > 50)
            w.__frames.long.push({
              ms: Math.round(e.duration),
              scripts: (e.scripts ?? []).filter((x) => x.duration >= 5).map((x) => `${x.invoker || x.invokerType} ${Math.round(x.duration)} ms`).slice(0, 3),
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
      w.__frames.deltas.push([performance.timeOrigin + t, t - last]);
      last = t;
      if (w.__frames.running) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

/** Frames between the wall-clock times [from, to] (ms since epoch; whole run if omitted). */
function frameStats(f, from = 0, to = Infinity) {
  const d = f.deltas.slice(1).filter(([t]) => t >= from && t <= to).map(([, x]) => x);
  const loaf = f.loaf.filter(([t]) => t >= from && t <= to).map(([, x]) => x);
  const s = [...d].sort((a, b) => a - b);
  return {
    frames: d.length,
    longest_raf_delta_ms: Math.round(s.at(-1) ?? 0),
    p99_raf_delta_ms: Math.round(s[Math.floor(s.length * 0.99)] ?? 0),
    raf_over_50ms: d.filter((x) => x > 50).length,
    longest_loaf_ms: Math.round(Math.max(0, ...loaf)),
    loaf_over_50ms: loaf.filter((x) => x > 50).length,
  };
}

async function readFrames(page) {
  return page.evaluate(() => {
    const f = window.__frames;
    f.running = false;
    f.po?.disconnect();
    return { deltas: f.deltas, loaf: f.loaf, long: f.long.sort((a, b) => b.ms - a.ms).slice(0, 6) };
  });
}

async function startProfile(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
  await cdp.send('Profiler.start');
  return async () => {
    const { profile } = await cdp.send('Profiler.stop');
    // self time per function (name, file:line), top 15
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map();
    const dts = profile.timeDeltas;
    for (let i = 0; i < profile.samples.length; i++) {
      const n = byId.get(profile.samples[i]);
      const cf = n.callFrame;
      const key = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').pop()}:${cf.lineNumber + 1}`;
      self.set(key, (self.get(key) ?? 0) + (dts[i] ?? 0) / 1000);
    }
    const total = [...self.values()].reduce((a, b) => a + b, 0);
    return {
      total_ms: Math.round(total),
      top_self_ms: [...self.entries()].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${Math.round(v)} ${k}`),
    };
  };
}

/** The machine's load as seen by the page: a fixed script (sort 200,000 numbers), median of 3
 * (the same reference as bench/dashboard.mjs; compare runs by it, the machine is shared). */
function calibrate(page) {
  return page.evaluate(() => {
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
}

/** Publishes values alternating above and below the rule's threshold: one anomaly per pair. */
function alternating(n, t0) {
  const pts = [];
  for (let i = 0; i < n; i++) {
    pts.push({ metric: 'temp', ts: t0 + 2 * i, value: 100 + i });
    pts.push({ metric: 'temp', ts: t0 + 2 * i + 1, value: 0 });
  }
  return pts;
}

async function burst(admin) {
  const have = (await admin.req('GET', '/api/v1/devices?limit=1')).total;
  const types = ['thermostat', 'meter', 'camera', 'gateway', 'valve'];
  const batches = [];
  for (let s = have; s < N_DEV - 1; s += 1000) batches.push(s);
  await pool(batches, 2, async (s) => {
    const devices = [];
    for (let i = s; i < Math.min(N_DEV - 1, s + 1000); i++) devices.push({ name: `fleet-${String(i).padStart(6, '0')}`, type: types[i % 5], location: `Site ${i % 97}` });
    await admin.req('POST', '/api/v1/devices/bulk', { devices, keys: false }, 201);
  });
  const dev = await admin.req('POST', '/api/v1/devices', { name: 'burst-1', type: 'meter', location: 'Bench' }, 201);
  const key = (await admin.req('POST', `/api/v1/devices/${dev.id}/keys`, { name: 'bench' }, 201)).key;
  await admin.req('POST', '/api/v1/rules', { name: 'burst hot', device_id: dev.id, metric: 'temp', kind: 'above', threshold: 50, for_ms: 0, severity: 'warning' }, 201);
  const ingest = async (pts) => {
    const r = await fetch(`${server.base}/api/v1/ingest`, { method: 'POST', headers: { 'X-API-Key': key, 'Content-Type': 'application/json' }, body: JSON.stringify(pts) });
    if (r.status !== 202) throw new Error(`ingest ${r.status} ${await r.text()}`);
  };
  let t = Date.now() - 3_600_000;
  await ingest(alternating(500, t));
  t += 2000;
  for (let i = 0; i < 100; i++) {
    const n = (await admin.req('GET', `/api/v1/anomalies?device_id=${dev.id}&resolved=false&limit=1`)).total;
    if (n >= 500) break;
    await sleep(200);
  }
  out.devices = N_DEV;
  out.open_anomalies_before = (await admin.req('GET', '/api/v1/anomalies?resolved=false&limit=1')).total;
  log(`${N_DEV} devices, ${out.open_anomalies_before} open anomalies`);

  const { page, msgs } = await loggedIn();
  const g0 = Date.now();
  await page.goto(`${server.base}/anomalies`);
  await page.locator('ul[aria-label="Anomalies"] li').first().waitFor();
  // the fleet too (the page names devices from it): wait for the device list to arrive
  await page.waitForLoadState('networkidle');
  out.first_rows_ms = Date.now() - g0;
  await sleep(1000);
  out.rows_in_dom_before = await page.locator('ul[aria-label="Anomalies"] li').count();
  out.calibration_sort200k_ms = await calibrate(page);
  await frameProbe(page);
  const stopProfile = PROFILE ? await startProfile(page) : null;
  // R anomalies/s for S seconds: every 1/R s one up-crossing (a pair of points, newest ts)
  const b0 = Date.now();
  const n = RATE * SECONDS;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const due = b0 + (i * 1000) / RATE;
    if (due > Date.now()) await sleep(due - Date.now());
    last = 1000 + i;
    await ingest([{ metric: 'temp', ts: t, value: last }, { metric: 'temp', ts: t + 1, value: 0 }]);
    t += 2;
  }
  const published = Date.now();
  out.published_per_s = Math.round((n / (published - b0)) * 10000) / 10;
  // settled: the burst's last anomaly (value `last`) is the newest row and painted
  await page.waitForFunction(
    (v) => {
      const li = document.querySelector('ul[aria-label="Anomalies"] li');
      return !!li && li.textContent.includes(String(v)) && new Promise((r) => requestAnimationFrame(() => r(true)));
    },
    last,
    { polling: 50, timeout: Number(opt('settle-timeout-s', 600)) * 1000 },
  ).catch(async (e) => {
    out.settle_timeout = true;
    out.top_row = await page.locator('ul[aria-label="Anomalies"] li').first().textContent({ timeout: 60000 }).catch(() => null);
    log('not settled:', e.message.split('\n')[0], 'top row:', out.top_row, 'want', last);
  });
  const settled = Date.now();
  out.settle_ms_from_first_publish = settled - b0;
  out.settle_ms_after_last_publish = settled - published;
  out.rows_in_dom_during = await page.locator('ul[aria-label="Anomalies"] li').count();
  if (stopProfile) out.profile = await stopProfile();
  await sleep(1000);
  const f = await readFrames(page);
  out.burst_frames = frameStats(f, b0, settled);
  out.long_frames = f.long;
  const inBurst = msgs.filter(([ts]) => ts >= b0 && ts <= settled);
  out.stream_msgs = Object.fromEntries([...new Set(inBurst.map(([, k]) => k))].map((k) => [k, inBurst.filter(([, x]) => x === k).length]));
  out.anomalies_listed = (await page.evaluate(() => document.querySelector('[data-testid="anomaly-list"]')?.dataset.count)) ?? null;
}

async function firstRun() {
  const { page, msgs } = await loggedIn();
  const t0 = Date.now();
  await page.goto(`${server.base}/anomalies`);
  await frameProbe(page);
  const stopProfile = PROFILE ? await startProfile(page) : null;
  const windows = [];
  for (let w = 0; w < WATCH_S / 5; w++) {
    await sleep(5000);
    const rows = await page.locator('ul[aria-label="Anomalies"] li').count();
    windows.push({ t_s: (w + 1) * 5, rows_in_dom: rows });
  }
  if (stopProfile) out.profile = await stopProfile();
  const f = await readFrames(page);
  for (const w of windows) {
    const from = t0 + (w.t_s - 5) * 1000, to = t0 + w.t_s * 1000;
    const st = frameStats(f, from, to);
    w.longest_frame_ms = Math.max(st.longest_raf_delta_ms, st.longest_loaf_ms);
    w.frames = st.frames;
    const m = msgs.filter(([ts]) => ts >= from && ts < to);
    w.msgs = Object.fromEntries([...new Set(m.map(([, k]) => k))].map((k) => [k, m.filter(([, x]) => x === k).length]));
  }
  out.windows = windows;
  out.watch_frames = frameStats(f);
  out.long_frames = f.long;
  // a fresh visit now: navigation -> rows painted and frames quiet (no frame over 50 ms for 2 s)
  const g0 = Date.now();
  await page.goto(`${server.base}/anomalies`);
  await page.locator('ul[aria-label="Anomalies"] li').first().waitFor();
  out.revisit_first_rows_ms = Date.now() - g0;
  await frameProbe(page);
  const quiet = await page.waitForFunction(
    () => {
      const d = window.__frames.deltas;
      const now = performance.timeOrigin + performance.now();
      const recent = d.filter(([t]) => t > now - 2000);
      return recent.length > 20 && recent.every(([, x]) => x <= 50);
    },
    null,
    { polling: 200, timeout: 600000 },
  ).then(() => Date.now());
  out.revisit_settle_ms = quiet - g0;
  out.rows_in_dom_after = await page.locator('ul[aria-label="Anomalies"] li').count();
}
