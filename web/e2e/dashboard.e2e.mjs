// End-to-end tests of the dashboard against a real iotad (see harness.mjs). Tests run in order
// and share one server and one browser: later tests use the device registered earlier.
// Measurements (initial JS, 10k-device render, publish->paint latency) go to stdout and to
// e2e/results/metrics.json.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ADMIN, Api, axeCheck, launchBrowser, mqttPublish, pool, screenshot, startIotad, webDir } from './harness.mjs';

let server, chrome, ctx, page, admin;
const shared = { deviceId: '', key: '' };
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

test('a point published over MQTT appears on the live chart within a second', async () => {
  await page.getByRole('tab', { name: 'Telemetry' }).click();
  await page.getByText('Waiting for the device to publish').waitFor();
  const value = 21.5;
  const t0 = Date.now();
  await mqttPublish(server.mqttPort, shared.deviceId, shared.key, { ts: Date.now(), metrics: { temp: value } });
  const chart = page.getByTestId('chart-temp');
  await page.waitForFunction((v) => document.querySelector('[data-testid="chart-temp"]')?.dataset.lastValue === String(v), value, { polling: 'raf', timeout: 5000 });
  const firstMs = Date.now() - t0;
  assert.equal(await chart.getAttribute('data-points'), '1');
  assert.ok(firstMs < 1000, `first point painted after ${firstMs} ms`);

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
  // medians, not maxima: a single slow paint on a loaded 2-core CI machine must not flake the run
  assert.ok(med(lat.mqtt) < 1000 && med(lat.http) < 1000, `latencies ${JSON.stringify(lat)}`);
  await page.getByTestId('chart-humidity').waitFor();
  assert.equal(await chart.getAttribute('data-points'), '11');

  // backfill ten minutes of history (one batch) so the screenshot shows a realistic chart
  const now = Date.now();
  const batch = Array.from({ length: 120 }, (_, i) => {
    const ts = now - 600_000 + i * 5000 - 30_000;
    return { ts, metrics: { temp: +(21 + 2 * Math.sin(i / 9) + Math.random() * 0.3).toFixed(2), humidity: +(45 + 5 * Math.cos(i / 14)).toFixed(2) } };
  });
  const b = await fetch(`${server.base}/api/v1/ingest`, { method: 'POST', headers: { 'X-API-Key': shared.key, 'Content-Type': 'application/json' }, body: JSON.stringify(batch) });
  assert.ok(b.ok, `batch ingest ${b.status}`);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="chart-temp"]')?.dataset.points) >= 131, null, { timeout: 5000 });
  await screenshot(page, '05-device-live');
  await expectAccessible('device detail');
});

test('rollup ranges and the status history render', async () => {
  await page.getByRole('radio', { name: '1 h' }).click();
  await page.getByText('Rollups: 1m average').waitFor();
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
  await page.getByRole('heading', { name: 'New rule' }).waitFor();
  await page.getByLabel('Name').fill('boiler too hot');
  await page.getByLabel('Device').selectOption({ label: 'boiler-1' });
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
  await item.getByRole('button').click();
  await page.getByRole('button', { name: 'False positive' }).waitFor();
  await screenshot(page, '08b-anomaly-explained');
  await expectAccessible('anomaly explanation');
  await page.getByRole('button', { name: 'False positive' }).click();
  await item.waitFor({ state: 'detached' });
  const list = await admin.req('GET', `/api/v1/anomalies?device_id=${shared.deviceId}&resolved=true`);
  assert.ok(list.items.some((a) => a.verdict === 'false_positive'), 'verdict stored');
  await page.getByLabel('Severity').selectOption('');
});

test('overview shows fleet counts and the ingest rate', async () => {
  await page.getByRole('link', { name: 'Overview' }).first().click();
  await page.getByTestId('tile-online').getByText('/ 1').waitFor();
  await page.getByTestId('tile-ingest').getByText('points per second').waitFor({ timeout: 8000 });
  await screenshot(page, '02-overview');
  await expectAccessible('overview');
});

test('placeholder page for incidents', async () => {
  await page.getByRole('link', { name: 'Incidents' }).first().click();
  await page.getByText('arrives with the incidents feature').waitFor();
  await expectAccessible('incidents');
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
  await pool(Array.from({ length: N - have }, (_, i) => i), 24, (i) =>
    admin.req('POST', '/api/v1/devices', { name: `fleet-${String(i).padStart(5, '0')}`, type: types[i % 5], location: `Site ${i % 37}`, firmware: '2.0.0' }, 201),
  );
  metrics.create10kDevicesMs = Date.now() - t0;

  // cold: a fresh page load of /devices (JS, session check, fetching all 10k, first paint)
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
  assert.ok(metrics.devicesList10kColdLoadMs < 5000, `cold load took ${metrics.devicesList10kColdLoadMs} ms`);
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
