// End-to-end tests of the dashboard against a real iotad (see harness.mjs). Tests run in order
// and share one server and one browser: later tests use the device registered earlier.
// Measurements (initial JS, 10k-device render, publish->paint latency) go to stdout and to
// e2e/results/metrics.json.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ADMIN, Api, axeCheck, launchBrowser, mqttPublish, screenshot, startIotad, webDir } from './harness.mjs';

let server, chrome, ctx, page, admin;
const shared = { deviceId: '', key: '', incidentId: '' };
const metrics = {};

before(async () => {
  server = await startIotad();
  chrome = await launchBrowser();
  ctx = await chrome.browser.newContext({ viewport: { width: 1366, height: 860 }, colorScheme: 'light' });
  page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  admin = await Api.login(server.base, ADMIN.email, ADMIN.password);
});

after(async () => {
  await chrome?.close();
  await server?.stop();
  mkdirSync(join(webDir, 'e2e/results'), { recursive: true });
  writeFileSync(join(webDir, 'e2e/results/metrics.json'), JSON.stringify(metrics, null, 2));
  console.log('E2E METRICS', JSON.stringify(metrics));
});

async function expectAccessible(name) {
  const v = await axeCheck(page);
  assert.deepEqual(v, [], `${name}: serious/critical accessibility violations:\n${JSON.stringify(v, null, 2)}`);
}

async function ingest(metrics) {
  const r = await fetch(`${server.base}/api/v1/ingest`, {
    method: 'POST',
    headers: { 'X-API-Key': shared.key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ts: Date.now(), metrics }),
  });
  assert.ok(r.ok, `ingest ${r.status}`);
}

/** Picks a device in a DevicePicker (a button named "<label>: <current>") by searching. */
async function pickDevice(p, label, search, name = search) {
  await p.getByRole('button', { name: new RegExp(`^${label}:`) }).click();
  await p.getByRole('combobox', { name: /Search devices/ }).fill(search);
  await p.getByRole('option').filter({ hasText: name }).first().click();
  await p.getByRole('button', { name: `${label}: ${name}` }).waitFor();
}

async function login(p, email, password) {
  await p.goto(`${server.base}/login`);
  await p.getByLabel('E-mail').fill(email);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
}

test('initial JavaScript stays under 250 KB gzipped', () => {
  const html = readFileSync(join(webDir, 'dist/index.html'), 'utf8');
  const entry = [...html.matchAll(/src="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]);
  const preloads = [...html.matchAll(/href="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]);
  assert.ok(entry.length > 0, 'index.html has an entry script');
  const files = [...new Set([...entry, ...preloads])];
  const gz = files.reduce((s, f) => s + gzipSync(readFileSync(join(webDir, 'dist/assets', f))).length, 0);
  const all = readdirSync(join(webDir, 'dist/assets')).filter((f) => f.endsWith('.js'));
  metrics.initialJsGzipKB = Math.round(gz / 102.4) / 10;
  metrics.jsChunks = all.length;
  assert.ok(gz < 250 * 1024, `initial JS ${gz} bytes gzipped`);
});

test('unknown client routes fall back to the app and redirect to login', async () => {
  await page.goto(`${server.base}/devices/does-not-exist`);
  await page.getByRole('heading', { name: 'Sign in to iotad' }).waitFor();
  assert.match(page.url(), /\/login$/);
  await screenshot(page, '01-login');
  await expectAccessible('login');
});

test('a wrong password shows an error; the right one returns to the page asked for', async () => {
  await login(page, ADMIN.email, 'not-the-password');
  await page.getByRole('alert').filter({ hasText: 'Wrong e-mail or password' }).waitFor();
  await login(page, ADMIN.email, ADMIN.password);
  // back to /devices/does-not-exist, which explains the device is unknown
  await page.getByRole('alert').filter({ hasText: 'does-not-exist' }).waitFor();
  assert.match(page.url(), /\/devices\/does-not-exist$/);
  await page.getByRole('link', { name: 'Overview' }).first().click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await page.getByTestId('stream-state').filter({ hasText: 'Live' }).waitFor();
  const cookies = await ctx.cookies();
  assert.ok(cookies.some((c) => c.name === 'iotad_session' && c.httpOnly), 'HttpOnly session cookie set');
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
  assert.doesNotMatch(stored, /token|session/i, 'no token in localStorage');
});

test('register a device and create an API key with copyable examples', async () => {
  await page.getByRole('link', { name: 'Devices' }).first().click();
  await page.getByRole('heading', { name: 'Devices' }).waitFor();
  await page.getByTestId('empty-state').waitFor();
  await page.getByTestId('register-device').click();
  const dlg = page.getByRole('dialog');
  await dlg.getByLabel('Name').fill('boiler-1');
  await dlg.getByLabel('Type').fill('thermostat');
  await dlg.getByLabel('Firmware').fill('1.4.2');
  await dlg.getByLabel('Location').fill('Plant 2');
  await screenshot(page, '03-register-device');
  await expectAccessible('register dialog');
  await dlg.getByRole('button', { name: 'Register' }).click();
  await page.getByRole('heading', { name: 'boiler-1' }).waitFor();
  shared.deviceId = page.url().match(/\/devices\/([^/?]+)/)[1];
  await page.getByTestId('create-key').click();
  const secret = (await page.getByTestId('new-key-secret').textContent()).trim();
  assert.ok(secret.length >= 16, 'secret shown');
  shared.key = secret;
  const mqtt = await page.getByTestId('mqtt-example').textContent();
  assert.ok(mqtt.includes(`-u ${shared.deviceId}`) && mqtt.includes(secret) && mqtt.includes(`devices/${shared.deviceId}/telemetry`));
  const http = await page.getByTestId('http-example').textContent();
  assert.ok(http.includes('/api/v1/ingest') && http.includes(`X-API-Key: ${secret}`));
  await screenshot(page, '04-key-created');
  await expectAccessible('key dialog');
  await page.getByRole('button', { name: 'I have stored the key' }).click();
  // the secret is gone for good: only the prefix is listed
  const body = await page.locator('main').textContent();
  assert.ok(!body.includes(secret), 'secret not shown after closing');
});

test('a point published over MQTT appears on the live chart (latencies to metrics.json)', async () => {
  await page.getByRole('tab', { name: 'Telemetry' }).click();
  await page.getByText('Waiting for the device to publish').waitFor();
  const value = 21.5;
  const t0 = Date.now();
  await mqttPublish(server.mqttPort, shared.deviceId, shared.key, { ts: Date.now(), metrics: { temp: value } });
  const chart = page.getByTestId('chart-temp');
  await page.waitForFunction((v) => document.querySelector('[data-testid="chart-temp"]')?.dataset.lastValue === String(v), value, { polling: 'raf', timeout: 5000 });
  const firstMs = Date.now() - t0;
  assert.equal(await chart.getAttribute('data-count'), '1');

  // latency publish -> paint, MQTT (includes spawning mosquitto_pub) and HTTP ingest
  const lat = { mqtt: [], http: [] };
  for (let i = 0; i < 5; i++) {
    const v = 30 + i;
    const s = Date.now();
    await mqttPublish(server.mqttPort, shared.deviceId, shared.key, { ts: Date.now(), metrics: { temp: v } });
    await page.waitForFunction((x) => document.querySelector('[data-testid="chart-temp"]')?.dataset.lastValue === String(x), v, { polling: 'raf', timeout: 5000 });
    lat.mqtt.push(Date.now() - s);
  }
  for (let i = 0; i < 5; i++) {
    const v = 40 + i;
    const s = Date.now();
    const r = await fetch(`${server.base}/api/v1/ingest`, {
      method: 'POST',
      headers: { 'X-API-Key': shared.key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ts: Date.now(), metrics: { temp: v, humidity: 40 + v / 10 } }),
    });
    assert.ok(r.ok, `ingest ${r.status}`);
    await page.waitForFunction((x) => document.querySelector('[data-testid="chart-temp"]')?.dataset.lastValue === String(x), v, { polling: 'raf', timeout: 5000 });
    lat.http.push(Date.now() - s);
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  metrics.firstPointMs = firstMs;
  metrics.publishToPaintMs = { mqttMedian: med(lat.mqtt), mqttMax: Math.max(...lat.mqtt), httpMedian: med(lat.http), httpMax: Math.max(...lat.http) };
  // no timing assertion (a loaded 2-core machine: 1,068 ms for the first point once, with
  // mosquitto_pub's start); every point was painted, the times are measured (bench/dashboard.mjs)
  assert.equal(lat.mqtt.length + lat.http.length, 10);
  await page.getByTestId('chart-humidity').waitFor();
  // live charts are 1 s rollups: the 11 points are all held, in as many buckets as seconds
  assert.equal(await chart.getAttribute('data-count'), '11');
  assert.ok(Number(await chart.getAttribute('data-points')) <= 11);
  // a point of one metric redraws its own chart only (the 1 s window tick redraws both)
  const paints = () => page.evaluate(() => ['temp', 'humidity'].map((m) => Number(document.querySelector(`[data-testid="chart-${m}"]`).dataset.paints)));
  const [t0p, h0p] = await paints();
  for (let i = 0; i < 5; i++) {
    const v = 60 + i;
    await ingest({ temp: v });
    await page.waitForFunction((x) => document.querySelector('[data-testid="chart-temp"]')?.dataset.lastValue === String(x), v, { polling: 'raf', timeout: 5000 });
  }
  const [t1p, h1p] = await paints();
  assert.ok(t1p - t0p - (h1p - h0p) >= 5, `temp painted ${t1p - t0p} times, humidity ${h1p - h0p}`);

  // a burst of 300 points within 2 s (a device of its own, constant values: nothing for the
  // detectors) is drawn as two 1 s buckets, every point counted: a live chart's size does not
  // follow the point rate
  const bdev = await admin.req('POST', '/api/v1/devices', { name: 'burst-1', type: 'meter', location: 'Lab' }, 201);
  const bkey = (await admin.req('POST', `/api/v1/devices/${bdev.id}/keys`, {}, 201)).key;
  const bp = await page.context().newPage();
  await bp.goto(`${server.base}/devices/${bdev.id}`);
  await bp.getByText('Waiting for the device to publish').waitFor();
  const tb = Date.now() - (Date.now() % 1000) - 1000;
  const burst = Array.from({ length: 300 }, (_, i) => ({ ts: tb + Math.floor(i * 6.66), metrics: { rate: 42 } }));
  const br = await fetch(`${server.base}/api/v1/ingest`, { method: 'POST', headers: { 'X-API-Key': bkey, 'Content-Type': 'application/json' }, body: JSON.stringify(burst) });
  assert.ok(br.ok, `burst ingest ${br.status}`);
  await bp.waitForFunction(() => Number(document.querySelector('[data-testid="chart-rate"]')?.dataset.count) >= 300, null, { timeout: 5000 });
  assert.deepEqual(await bp.getByTestId('chart-rate').evaluate((e) => [e.dataset.points, e.dataset.count, e.dataset.lastValue]), ['2', '300', '42']);
  await bp.close();
  await admin.req('DELETE', `/api/v1/devices/${bdev.id}`, undefined, 204); // the fleet counts later stay 1

  // backfill ten minutes of history (one batch) so the screenshot shows a realistic chart
  const now = Date.now();
  const batch = Array.from({ length: 120 }, (_, i) => {
    const ts = now - 600_000 + i * 5000 - 30_000;
    return { ts, metrics: { temp: +(21 + 2 * Math.sin(i / 9) + Math.random() * 0.3).toFixed(2), humidity: +(45 + 5 * Math.cos(i / 14)).toFixed(2) } };
  });
  const b = await fetch(`${server.base}/api/v1/ingest`, { method: 'POST', headers: { 'X-API-Key': shared.key, 'Content-Type': 'application/json' }, body: JSON.stringify(batch) });
  assert.ok(b.ok, `batch ingest ${b.status}`);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="chart-temp"]')?.dataset.count) >= 131, null, { timeout: 5000 });
  await screenshot(page, '05-device-live');
  await expectAccessible('device detail');
});

test('rollup ranges and the status history render', async () => {
  await page.getByRole('radio', { name: '1 h' }).click();
  await page.getByText('Rollups: 5 s buckets').waitFor();
  await page.getByTestId('chart-temp').waitFor();
  await page.getByRole('tab', { name: 'Status history' }).click();
  await page.getByRole('cell', { name: 'online' }).first().waitFor();
  await screenshot(page, '06-status-history');
  await page.getByRole('tab', { name: 'Telemetry' }).click();
  await page.getByRole('radio', { name: 'Live' }).click();
});

test('editing metadata updates the device', async () => {
  await page.getByRole('button', { name: 'Edit' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.getByLabel('Firmware').fill('1.5.0');
  await dlg.getByRole('button', { name: 'Save' }).click();
  await page.getByText('firmware 1.5.0').waitFor();
  const d = await admin.req('GET', `/api/v1/devices/${shared.deviceId}`);
  assert.equal(d.firmware, '1.5.0');
});

test('security view counts a failed device login', async () => {
  await assert.rejects(mqttPublish(server.mqttPort, shared.deviceId, 'wrong-key-123456', { metrics: { x: 1 } }));
  await page.getByRole('link', { name: 'Security' }).first().click();
  await page.getByRole('heading', { name: 'Security' }).waitFor();
  const tile = page.getByTestId('sec-auth_failure');
  for (let i = 0; i < 20; i++) {
    const n = Number(await tile.locator('.text-3xl').textContent());
    if (n >= 1) break;
    await page.waitForTimeout(250);
    await page.getByRole('button', { name: 'Reload security events' }).click();
  }
  assert.ok(Number(await tile.locator('.text-3xl').textContent()) >= 1, 'auth failure counted');
  await page.getByRole('heading', { name: 'Device × time' }).waitFor();
  await screenshot(page, '07-security');
  await expectAccessible('security');
});

test('anomalies view shows a list or a clear empty state', async () => {
  await page.getByRole('link', { name: 'Anomalies' }).first().click();
  await page.getByRole('heading', { name: 'Anomalies' }).waitFor();
  await page.locator('[data-testid="empty-state"], ul[aria-label="Anomalies"]').first().waitFor();
  await screenshot(page, '08-anomalies');
  await expectAccessible('anomalies');
});

test('a threshold rule made in the editor raises an anomaly that appears live and can be marked false positive', async (t) => {
  const probe = await fetch(`${server.base}/api/v1/rules`, { headers: { Authorization: `Bearer ${admin.token}` } });
  if (probe.status === 404) return t.skip('rules API not in this iotad build');
  await page.getByRole('link', { name: 'Alerts' }).first().click();
  await page.getByRole('tab', { name: 'Rules' }).click();
  await page.getByRole('heading', { name: 'New rule' }).waitFor();
  await page.getByLabel('Name').fill('boiler too hot');
  await pickDevice(page, 'Device', 'boiler', 'boiler-1');
  await page.getByLabel('Metric').fill('temp');
  await page.getByLabel('Condition').selectOption('above');
  await page.getByLabel('Threshold').fill('100');
  await page.getByLabel('Severity').selectOption('critical');
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.getByTestId('rule-row').filter({ hasText: 'boiler too hot' }).getByText('temp above 100').waitFor();
  await screenshot(page, '15-alert-rules');
  await expectAccessible('alerts / rules');

  await page.getByRole('link', { name: 'Anomalies' }).first().click();
  await page.getByRole('heading', { name: 'Anomalies' }).waitFor();
  await page.getByLabel('Severity').selectOption('critical');
  const s0 = Date.now();
  const r = await fetch(`${server.base}/api/v1/ingest`, {
    method: 'POST',
    headers: { 'X-API-Key': shared.key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ts: Date.now(), metrics: { temp: 150 } }),
  });
  assert.ok(r.ok);
  const item = page.locator('ul[aria-label="Anomalies"] li').filter({ hasText: 'boiler-1' }).first();
  await item.waitFor({ timeout: 8000 }); // arrives over the WebSocket, no reload
  metrics.anomalyPublishToListMs = Date.now() - s0;
  // critical: an incident opens by itself, and the row shows it (live)
  await item.getByTestId('anomaly-incident').waitFor({ timeout: 8000 });
  // the context chart reads rollups (min/max/avg per ~pixel bucket), not up to 5,000 raw points
  const contextRead = page.waitForRequest((q) => q.url().includes(`/devices/${shared.deviceId}/data?`));
  await item.getByRole('button').click();
  await page.getByRole('button', { name: 'False positive' }).waitFor();
  const contextUrl = new URL((await contextRead).url());
  assert.equal(contextUrl.searchParams.get('metric'), 'temp');
  assert.ok(Number(contextUrl.searchParams.get('step')) >= 1000, contextUrl.search);
  assert.equal(contextUrl.searchParams.get('limit'), null);
  const contextChart = page.getByTestId('anomaly-context').getByTestId('chart-temp');
  await page.waitForFunction((el) => Number(el?.dataset.points) >= 1, await contextChart.elementHandle());
  await screenshot(page, '08b-anomaly-explained');
  await expectAccessible('anomaly explanation');
  await page.getByRole('button', { name: 'False positive' }).click();
  await item.waitFor({ state: 'detached' });
  const list = await admin.req('GET', `/api/v1/anomalies?device_id=${shared.deviceId}&resolved=true`);
  assert.ok(list.items.some((a) => a.verdict === 'false_positive'), 'verdict stored');
  // its automatic incident held only this anomaly: resolved with it, same verdict
  assert.equal((await admin.req('GET', '/api/v1/incidents?status=open')).total, 0);
  const settled = (await admin.req('GET', '/api/v1/incidents?status=resolved')).items;
  assert.deepEqual(settled.map((i) => [i.origin, i.verdict]), [['auto', 'false_positive']]);
  await page.getByLabel('Severity').selectOption('');
});

test('an incident opened from two anomalies is assigned, investigated, commented and resolved with a verdict', async () => {
  await admin.req('POST', '/api/v1/users', { email: 'ana@example.com', password: 'analyst-password-1', role: 'analyst', name: 'Ana Analyst' }, 201);
  // warning rules: below the automatic-incident severity, so only the UI opens an incident
  for (const [metric, threshold] of [['humidity', 90], ['pressure', 5]])
    await admin.req('POST', '/api/v1/rules', { name: `${metric} high`, device_id: shared.deviceId, metric, kind: 'above', threshold, for_ms: 0, severity: 'warning' }, 201);
  await page.getByRole('link', { name: 'Anomalies' }).first().click();
  await page.getByRole('heading', { name: 'Anomalies' }).waitFor();
  await page.getByLabel('Severity').selectOption('warning');
  await ingest({ humidity: 97, pressure: 7.5 });
  // by the rules' text: a learning detector may flag the same jump as well
  const humidity = page.locator('ul[aria-label="Anomalies"] li').filter({ hasText: "rule 'humidity high'" }).first();
  const pressure = page.locator('ul[aria-label="Anomalies"] li').filter({ hasText: "rule 'pressure high'" }).first();
  await humidity.waitFor({ timeout: 8000 });
  await pressure.waitFor({ timeout: 8000 });
  await humidity.getByRole('checkbox').check();
  await pressure.getByRole('checkbox').check();
  await page.getByText('2 selected').waitFor();
  await screenshot(page, '16-anomalies-selected');
  await expectAccessible('anomalies with a selection');
  await page.getByRole('button', { name: 'Open incident' }).click();
  const dlg = page.getByRole('dialog');
  assert.match(await dlg.getByLabel('Title').inputValue(), /^boiler-1: 2 anomalies/);
  await dlg.getByLabel('Title').fill('Boiler 1 humidity and pressure');
  await dlg.getByRole('button', { name: 'Open incident' }).click();
  await page.getByRole('heading', { name: 'Boiler 1 humidity and pressure' }).waitFor();
  shared.incidentId = page.url().match(/\/incidents\/([^/?]+)/)[1];
  const timeline = page.getByTestId('incident-timeline');
  await timeline.locator('[data-kind="created"]').getByText('Administrator (you)').waitFor();
  assert.equal(await timeline.locator('[data-kind="anomaly_linked"]').count(), 2);
  assert.equal(await page.getByTestId('incident-anomalies').locator('li').count(), 2);

  // an Admin assigns any Analyst or Admin
  await page.getByLabel('Assignee').selectOption({ label: 'Ana Analyst · analyst' });
  await page.getByTestId('incident-assignee').filter({ hasText: 'Ana Analyst' }).waitFor();
  await timeline.getByText('assigned to Ana Analyst').waitFor();
  await page.getByRole('button', { name: 'Start investigating' }).click();
  await page.getByTestId('incident-status').filter({ hasText: 'Investigating' }).waitFor();
  await timeline.getByText('moved from New to Investigating').waitFor();
  await page.getByLabel('Comment').fill('Valve V2 stuck open; replaced the actuator.');
  await page.getByRole('button', { name: 'Add comment' }).click();
  await timeline.locator('[data-kind="comment"]').getByText('Valve V2 stuck open').waitFor();
  assert.equal(await page.getByLabel('Comment').inputValue(), '');

  await page.getByRole('button', { name: 'Resolve…' }).click();
  const rd = page.getByRole('dialog');
  await rd.getByRole('radio', { name: /Confirmed/ }).check();
  await screenshot(page, '17-incident-resolve');
  await expectAccessible('resolve dialog');
  await rd.getByRole('button', { name: 'Resolve incident' }).click();
  await page.getByTestId('incident-status').filter({ hasText: 'Resolved' }).waitFor();
  await timeline.getByText('moved from Investigating to Resolved (verdict: confirmed)').waitFor();
  const inc = await admin.req('GET', `/api/v1/incidents/${shared.incidentId}`);
  assert.ok(inc.anomalies.every((a) => a.resolved && a.verdict === 'confirmed'), 'the verdict reached the anomalies');
  assert.deepEqual(inc.timeline.map((e) => e.kind), ['created', 'anomaly_linked', 'anomaly_linked', 'assigned', 'status_changed', 'comment', 'status_changed']);
  await screenshot(page, '18-incident-detail');
  await expectAccessible('incident detail');
});

test('a change made elsewhere arrives live; a stale move is refused with a clear message', async () => {
  // a second tab whose live stream is cut off keeps showing the incident as resolved
  const stale = await ctx.newPage();
  stale.setDefaultTimeout(10000);
  await stale.routeWebSocket(/\/api\/v1\/stream/, () => {});
  await stale.goto(`${server.base}/incidents/${shared.incidentId}`);
  await stale.getByRole('button', { name: 'Reopen' }).waitFor();
  // someone else reopens it: the first tab follows live
  await admin.req('PATCH', `/api/v1/incidents/${shared.incidentId}`, { status: 'investigating' });
  await page.getByTestId('incident-status').filter({ hasText: 'Investigating' }).waitFor();
  await page.getByTestId('incident-timeline').locator('[data-kind="reopened"]').waitFor();
  // the stale tab tries the same move: the server's 409 is explained and the incident reloaded
  await stale.getByRole('button', { name: 'Reopen' }).click();
  await stale.getByTestId('incident-error').filter({ hasText: 'no longer possible' }).waitFor();
  await stale.getByTestId('incident-status').filter({ hasText: 'Investigating' }).waitFor();
  await screenshot(stale, '19-incident-conflict');
  await stale.close();
});

test('the incident board shows columns by status, moves cards live and filters', async () => {
  await page.getByRole('link', { name: 'Incidents' }).first().click();
  await page.getByRole('heading', { name: 'Incidents' }).waitFor();
  const col = (s) => page.getByTestId(`column-${s}`);
  await col('investigating').getByTestId('incident-card').filter({ hasText: 'Boiler 1 humidity and pressure' }).waitFor();
  // a critical anomaly opens an incident by itself (the rule test's was settled by its verdict)
  await ingest({ temp: 20 }); // ends the rule test's episode, so the next breach is a new anomaly
  await new Promise((r) => setTimeout(r, 20));
  await ingest({ temp: 160 });
  let autoInc;
  for (let i = 0; i < 100 && !autoInc; i++) {
    autoInc = (await admin.req('GET', '/api/v1/incidents?status=new')).items[0];
    if (!autoInc) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(autoInc && autoInc.origin === 'auto', 'an automatic incident exists');
  await col('new').getByTestId('incident-card').filter({ hasText: autoInc.title }).waitFor();
  await screenshot(page, '20-incidents-board');
  await expectAccessible('incidents board');
  // someone starts on the automatic incident: its card moves without a reload
  await admin.req('PATCH', `/api/v1/incidents/${autoInc.id}`, { status: 'investigating' });
  await col('investigating').getByTestId('incident-card').filter({ hasText: autoInc.title }).waitFor();
  assert.equal(await col('new').getByTestId('incident-card').count(), 0);
  await page.getByLabel('Assignee').selectOption({ label: 'Ana Analyst' });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="incident-card"]').length === 1);
  await page.getByTestId('incident-card').filter({ hasText: 'Boiler 1 humidity and pressure' }).waitFor();
  await page.getByLabel('Assignee').selectOption('');
  await page.getByLabel('Status').selectOption('resolved');
  // only the rule test's automatic incident, settled by its anomaly's false-positive verdict
  await col('resolved').getByTestId('incident-card').filter({ hasText: 'false positive' }).waitFor();
  assert.equal(await page.getByTestId('incident-card').count(), 1);
  await page.getByLabel('Status').selectOption('');
  // keyboard: a card is a link
  await page.getByTestId('incident-card').filter({ hasText: 'Boiler 1 humidity and pressure' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('link', { name: 'All incidents' }).waitFor();
  assert.match(page.url(), new RegExp(`/incidents/${shared.incidentId}$`));
});

test('alerts: a webhook alert shows its delivery status live and a dead letter is retried', async () => {
  const received = [];
  let refuse = true; // the first delivery gets a 400: a permanent refusal, dead-lettered at once
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(refuse ? 400 : 200).end(refuse ? 'bad' : 'ok');
      refuse = false;
    });
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${hook.address().port}/hook`;
    const ch = await admin.req('POST', '/api/v1/alert-channels', { name: 'ops webhook', kind: 'webhook', url, secret: 'e2e-secret' }, 201);
    await admin.req('POST', '/api/v1/alert-policies', { name: 'warnings to ops', channel_id: ch.id, severities: ['critical', 'warning'] }, 201);
    await admin.req('POST', '/api/v1/rules', { name: 'flow high', device_id: shared.deviceId, metric: 'flow', kind: 'above', threshold: 10, for_ms: 0, severity: 'warning' }, 201);
    await page.getByRole('link', { name: 'Alerts' }).first().click();
    await page.getByRole('heading', { name: 'Alerts' }).waitFor();
    await page.getByTestId('empty-state').waitFor();
    await ingest({ flow: 12 });
    const row = page.getByTestId('alert-row').first();
    await row.and(page.locator('[data-status="dead"]')).waitFor({ timeout: 8000 }); // arrives live
    assert.match(await row.textContent(), /Failed/);
    await row.click();
    const detail = page.getByTestId('alert-detail');
    await detail.getByTestId('alert-delivery').filter({ hasText: 'Failed' }).waitFor();
    await detail.getByTestId('alert-attempts').locator('tbody tr').filter({ hasText: '400' }).waitFor();
    await detail.getByRole('button', { name: 'Retry delivery' }).click();
    await detail.getByTestId('alert-delivery').filter({ hasText: 'Delivered' }).waitFor({ timeout: 8000 });
    await row.and(page.locator('[data-status="sent"]')).waitFor();
    await detail.getByTestId('alert-attempts').locator('tbody tr').nth(1).filter({ hasText: 'ok' }).waitFor();
    assert.equal(received.length, 2);
    assert.equal(received[1].headers['idempotency-key'], received[0].headers['idempotency-key'], 'same idempotency key on the retry');
    assert.match(received[1].headers['x-iotad-signature'], /^t=\d+,v1=[0-9a-f]{64}$/);
    await detail.getByRole('button', { name: 'Acknowledge' }).click();
    await detail.getByText('Acknowledged').waitFor();
    await screenshot(page, '21-alerts-history');
    await expectAccessible('alert history');
  } finally {
    hook.close();
  }
});

test('channels, policies, delivery settings and own contacts are managed on the alerts page', async () => {
  await page.getByRole('tab', { name: 'Channels' }).click();
  await page.getByTestId('channel-row').filter({ hasText: 'ops webhook' }).getByText('secret set').waitFor();
  await page.getByRole('button', { name: 'Add channel' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.getByLabel('Name').fill('ops mail');
  await dlg.getByLabel('Kind').selectOption('email');
  await dlg.getByLabel('URL').fill('smtp://127.0.0.1:2525');
  await dlg.getByLabel('From').fill('iotad@example.com');
  await screenshot(page, '22-alert-channel-form');
  await expectAccessible('channel form');
  await dlg.getByRole('button', { name: 'Add channel' }).click();
  await page.getByTestId('channel-row').filter({ hasText: 'ops mail' }).waitFor();
  const mail = (await admin.req('GET', '/api/v1/alert-channels')).items.find((c) => c.name === 'ops mail');
  assert.deepEqual([mail.kind, mail.config.from, mail.has_secret], ['email', 'iotad@example.com', false]);
  await screenshot(page, '23-alert-channels');
  await expectAccessible('alert channels');

  await page.getByRole('tab', { name: 'Policies' }).click();
  await page.getByTestId('policy-row').filter({ hasText: 'warnings to ops' }).getByText('the webhook endpoint').waitFor();
  await screenshot(page, '24-alert-policies');
  await expectAccessible('alert policies');

  await page.getByRole('tab', { name: 'Delivery settings' }).click();
  await page.getByLabel('Attempts before dead letter').fill('5');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  assert.equal((await admin.req('GET', '/api/v1/alert-settings')).max_attempts, 5);
  await expectAccessible('alert settings');

  await page.getByRole('tab', { name: 'My contacts' }).click();
  await page.getByRole('button', { name: 'Add contact' }).click();
  await page.getByLabel('Contact 1 address').fill('+15551234567');
  await page.getByRole('button', { name: 'Save contacts' }).click();
  await page.getByText('Not an e-mail address').waitFor(); // checked before sending
  await page.getByLabel('Contact 1 kind').selectOption('sms');
  await page.getByLabel('Contact 1 lowest severity').selectOption('critical');
  await page.getByRole('button', { name: 'Save contacts' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  const mine = await admin.req('GET', '/api/v1/me/contacts');
  assert.deepEqual(mine.items.map((c) => [c.kind, c.address, c.min_severity, c.enabled]), [['sms', '+15551234567', 'critical', true]]);
  await screenshot(page, '25-alert-contacts');
  await expectAccessible('alert contacts');
});

test('an analyst takes an incident but gets no channel or policy administration', async () => {
  const actx = await chrome.browser.newContext({ viewport: { width: 1366, height: 860 } });
  const p = await actx.newPage();
  p.setDefaultTimeout(10000);
  await login(p, 'ana@example.com', 'analyst-password-1');
  await p.getByRole('heading', { name: 'Overview' }).waitFor();
  await p.goto(`${server.base}/alerts`);
  await p.getByRole('tab', { name: 'My contacts' }).waitFor();
  assert.deepEqual(await p.getByRole('tab').allTextContents(), ['History', 'Rules', 'My contacts']);
  await p.getByTestId('alert-row').first().click();
  await p.getByTestId('alert-detail').waitFor();
  assert.equal(await p.getByRole('button', { name: 'Retry delivery' }).count(), 0);
  await p.goto(`${server.base}/incidents/${shared.incidentId}`);
  // Analysts take an incident or hand it back, and may also pick any Analyst or Admin
  await p.getByRole('button', { name: 'Unassign me' }).click();
  await p.getByTestId('incident-assignee').filter({ hasText: 'Unassigned' }).waitFor();
  await p.getByRole('button', { name: 'Assign to me' }).click();
  await p.getByTestId('incident-assignee').filter({ hasText: 'Ana Analyst' }).waitFor();
  const options = await p.getByLabel('Assignee').locator('option').allTextContents();
  assert.ok(options.some((o) => o.startsWith('Administrator')), `assignee options: ${options}`);
  await p.getByTestId('incident-timeline').getByText('Ana Analyst (you) handed the incident back').waitFor();
  await p.getByTestId('incident-timeline').getByText('Ana Analyst (you) took the incident').waitFor();
  await actx.close();
});

test('overview shows fleet counts and the ingest rate', async () => {
  await page.getByRole('link', { name: 'Overview' }).first().click();
  await page.getByTestId('tile-online').getByText('/ 1').waitFor();
  await page.getByTestId('tile-ingest').getByText('points per second').waitFor({ timeout: 8000 });
  // both incidents of the incident tests are being investigated
  await page.getByTestId('tile-incidents').getByText('investigating').waitFor();
  assert.deepEqual(await page.getByTestId('tile-incidents').locator('.text-2xl').allTextContents(), ['0', '2']);
  await screenshot(page, '02-overview');
  await expectAccessible('overview');
});

test('admin manages users and verifies the audit chain', async () => {
  await admin.req('POST', '/api/v1/users', { email: 'owner@example.com', password: 'owner-password-1', role: 'device_owner', name: 'Olive Owner' }, 201);
  await page.getByRole('link', { name: 'Admin' }).first().click();
  await page.getByRole('cell', { name: 'owner@example.com', exact: true }).waitFor();
  await screenshot(page, '09-admin-users');
  await expectAccessible('admin users');
  await page.getByRole('tab', { name: 'Audit log' }).click();
  await page.getByRole('button', { name: 'Verify chain' }).click();
  await page.getByTestId('audit-verify').filter({ hasText: 'Intact' }).waitFor();
  await screenshot(page, '10-admin-audit');
  await expectAccessible('admin audit');
});

test('dark theme toggles, persists and stays accessible', async () => {
  await page.getByRole('link', { name: 'Devices' }).first().click();
  await page.getByRole('button', { name: 'Switch to dark theme' }).click();
  assert.ok(await page.evaluate(() => document.documentElement.classList.contains('dark')));
  await page.reload();
  await page.getByRole('button', { name: 'Switch to light theme' }).waitFor();
  await page.getByTestId('device-row').first().waitFor();
  await screenshot(page, '11-devices-dark');
  await expectAccessible('devices (dark)');
  await page.goto(`${server.base}/devices/${shared.deviceId}`);
  await page.getByTestId('chart-temp').waitFor();
  await screenshot(page, '12-device-dark');
  await expectAccessible('device detail (dark)');
  await page.goto(`${server.base}/incidents/${shared.incidentId}`);
  await page.getByTestId('incident-timeline').waitFor();
  await screenshot(page, '26-incident-dark');
  await expectAccessible('incident detail (dark)');
  await page.goto(`${server.base}/alerts`);
  await page.getByTestId('alert-row').first().click();
  await page.getByTestId('alert-detail').waitFor();
  await screenshot(page, '27-alerts-dark');
  await expectAccessible('alerts (dark)');
  await page.getByRole('button', { name: 'Switch to light theme' }).click();
});

test('a device owner sees only their own devices and no admin controls', async () => {
  const owner = await Api.login(server.base, 'owner@example.com', 'owner-password-1');
  const mine = await owner.req('POST', '/api/v1/devices', { name: 'owner-sensor', type: 'meter', location: 'Home', firmware: '0.9' }, 201);
  const octx = await chrome.browser.newContext({ viewport: { width: 1366, height: 860 } });
  const p = await octx.newPage();
  p.setDefaultTimeout(10000);
  await login(p, 'owner@example.com', 'owner-password-1');
  await p.getByRole('heading', { name: 'Overview' }).waitFor();
  assert.equal(await p.getByRole('link', { name: 'Admin' }).count(), 0, 'no Admin link');
  await p.getByRole('link', { name: 'Devices' }).first().click();
  await p.getByTestId('device-row').first().waitFor();
  const names = await p.getByTestId('device-row').locator('a').allTextContents();
  assert.deepEqual(names, ['owner-sensor']);
  assert.ok(!(await p.locator('main').textContent()).includes('boiler-1'));
  await screenshot(p, '13-owner-devices');
  await p.goto(`${server.base}/alerts`);
  await p.getByRole('tab', { name: 'My contacts' }).waitFor();
  assert.deepEqual(await p.getByRole('tab').allTextContents(), ['History', 'Rules', 'My contacts']);
  await p.getByTestId('empty-state').waitFor(); // no alerts about the owner's devices
  await p.goto(`${server.base}/incidents`);
  await p.getByTestId('empty-state').waitFor();
  await p.goto(`${server.base}/incidents/${shared.incidentId}`);
  await p.getByRole('alert').filter({ hasText: 'no longer exists or is not visible' }).waitFor();
  await p.goto(`${server.base}/anomalies`);
  await p.getByRole('heading', { name: 'Anomalies' }).waitFor();
  assert.equal(await p.getByRole('checkbox').count(), 0, 'no incident selection for owners');
  await p.goto(`${server.base}/admin`);
  await p.getByRole('heading', { name: 'Overview' }).waitFor();
  await p.goto(`${server.base}/devices/${shared.deviceId}`);
  await p.getByRole('alert').waitFor();
  await p.goto(`${server.base}/devices/${mine.id}`);
  await p.getByRole('heading', { name: 'owner-sensor' }).waitFor();
  await octx.close();
});

test('the devices list renders 10,000 devices and stays virtualized', async () => {
  const N = 10000;
  const have = (await admin.req('GET', '/api/v1/devices?limit=1')).total;
  const t0 = Date.now();
  const types = ['thermostat', 'meter', 'camera', 'gateway', 'valve'];
  // the bulk endpoint, 1,000 a request (one by one this took 350 s on the loaded CI machine)
  const dev = (i) => ({ name: `fleet-${String(i).padStart(5, '0')}`, type: types[i % 5], location: `Site ${i % 37}`, firmware: '2.0.0' });
  for (let s = 0; s < N - have; s += 1000) {
    const devices = Array.from({ length: Math.min(1000, N - have - s) }, (_, k) => dev(s + k));
    const r = await admin.req('POST', '/api/v1/devices/bulk', { devices, keys: false }, 201);
    assert.equal(r.created, devices.length);
  }
  metrics.create10kDevicesMs = Date.now() - t0;

  // cold: a fresh page load of /devices (JS, session check, fetching all 10k, first paint);
  // rows are shown from the first page on, while the rest still loads (recorded in the page)
  await page.addInitScript(() => {
    if (location.pathname !== '/devices') return;
    window.__partialRows = false;
    const mo = new MutationObserver(() => {
      const head = document.querySelector('main header, main h1')?.parentElement?.textContent ?? '';
      if (document.querySelector('[data-testid="device-row"]') && /Loading… first [\d,]+ of [\d,]+ devices/.test(head)) {
        window.__partialRows = true;
        mo.disconnect();
      }
    });
    mo.observe(document, { subtree: true, childList: true, characterData: true });
  });
  await page.goto(`${server.base}/devices`);
  await page.getByText(`${N.toLocaleString('en-US')} of ${N.toLocaleString('en-US')} devices`).waitFor({ timeout: 15000 });
  await page.getByTestId('device-row').first().waitFor();
  metrics.devicesList10kColdLoadMs = Math.round(await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(performance.now())))));
  // warm: in-app navigation when the fleet is already in the store
  await page.getByRole('link', { name: 'Overview' }).first().click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  const start = await page.evaluate(() => performance.now());
  await page.getByRole('link', { name: 'Devices' }).first().click();
  await page.getByTestId('device-row').first().waitFor();
  const shown = await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(performance.now()))));
  metrics.devicesList10kNavMs = Math.round(shown - start);
  const rows = await page.getByTestId('device-row').count();
  assert.ok(rows > 5 && rows < 120, `only visible rows in the DOM (${rows})`);

  // filter and sort stay fast
  const f0 = Date.now();
  await page.getByLabel('Search devices').fill('fleet-0123');
  await page.getByText(/^10 of 10,000 devices$/).waitFor();
  metrics.filter10kMs = Date.now() - f0;
  await page.getByLabel('Search devices').fill('');
  const s0 = Date.now();
  await page.getByRole('button', { name: 'Last seen' }).click();
  await page.getByRole('columnheader', { name: 'Last seen' }).and(page.locator('[aria-sort="ascending"]')).waitFor();
  metrics.sort10kMs = Date.now() - s0;
  // scroll to the end: the last rows render
  await page.getByTestId('device-rows').evaluate((el) => (el.scrollTop = el.scrollHeight));
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="device-row"]')].some((r) => r.getAttribute('aria-rowindex') === '10001'));
  await screenshot(page, '14-devices-10k');
  await expectAccessible('devices 10k');
  // (times go to metrics.json and bench/dashboard.mjs; no timing assertion on a shared machine)
  assert.equal(await page.evaluate(() => window.__partialRows), true, 'rows shown before the whole fleet was loaded');
});

test('while the fleet still loads, a search with no match in the first page waits instead of saying "no match"', async () => {
  let release;
  const gate = new Promise((r) => (release = r));
  const rest = /\/api\/v1\/devices\?.*offset=200(&|$)/;
  await page.route(rest, async (route) => {
    await gate;
    await route.continue();
  });
  await page.goto(`${server.base}/devices`);
  await page.getByText(/^Loading… first 200 of [\d,]+ devices$/).waitFor();
  await page.getByLabel('Search devices').fill('fleet-09000');
  await page.getByRole('status').filter({ hasText: 'Searching as the fleet loads' }).waitFor();
  assert.equal(await page.getByText('No device matches the filters').count(), 0);
  release();
  await page.getByTestId('device-row').filter({ hasText: 'fleet-09000' }).waitFor();
  await page.unroute(rest);
});

test('the device picker finds device 9,999 of 10,000 (server-side search, no cap)', async () => {
  const total = (await admin.req('GET', '/api/v1/devices?limit=1')).total;
  assert.ok(total >= 10000);
  const target = (await admin.req('GET', '/api/v1/devices?sort=name&order=asc&limit=1&offset=9998')).items[0];
  await page.goto(`${server.base}/alerts?tab=rules`);
  await page.getByRole('heading', { name: 'New rule' }).waitFor();
  await page.getByRole('button', { name: /^Device:/ }).click();
  const box = page.getByRole('combobox', { name: /Search devices/ });
  await page.getByText(/^50 of 10,\d{3} devices; type to narrow/).waitFor();
  // text inside a name, not at its start: the picker falls back to a substring search
  await box.fill(target.name.slice(3));
  await page.getByText(/No name starts with .*: these contain it\./).waitFor();
  await page.getByRole('option').filter({ hasText: target.name }).waitFor();
  const t0 = Date.now();
  await box.fill(target.name);
  const option = page.getByRole('option').filter({ hasText: target.name });
  await option.waitFor();
  metrics.devicePicker10kTypeToOptionMs = Date.now() - t0; // includes the 120 ms debounce
  metrics.devicePicker10kServerSearchMs = await page.evaluate(async (q) => {
    const runs = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      await (await fetch(`/api/v1/devices?q=${encodeURIComponent(q)}&match=prefix&sort=name&order=asc&limit=50`)).json();
      runs.push(performance.now() - s);
    }
    return Math.round(runs.sort((a, b) => a - b)[2]);
  }, target.name);
  await screenshot(page, '28-device-picker-10k');
  await expectAccessible('device picker');
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: `Device: ${target.name}` }).waitFor();
  await page.getByLabel('Name').fill('fleet rule');
  await page.getByLabel('Metric').fill('temp');
  await page.getByLabel('Threshold').fill('50');
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.getByTestId('rule-row').filter({ hasText: 'fleet rule' }).getByText(target.name).waitFor();
  const rule = (await admin.req('GET', '/api/v1/rules')).items.find((r) => r.name === 'fleet rule');
  assert.equal(rule.device_id, target.id);
});

test('logging out returns to the login page and the session is gone', async () => {
  await page.getByTestId('user-menu').click();
  await page.getByRole('menuitem', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'Sign in to iotad' }).waitFor();
  const r = await page.evaluate(async () => (await fetch('/api/v1/auth/me', { credentials: 'same-origin' })).status);
  assert.equal(r, 401);
  await page.goto(`${server.base}/security`);
  await page.getByRole('heading', { name: 'Sign in to iotad' }).waitFor();
});
