// End-to-end tests of the operator's day (issue 15) against a real iotad: a view that cannot load
// (server down, then upgraded under an open tab) recovers by itself; one anomaly has at most one
// open incident and resolving settles it; the Open incident dialog fits; device names instead of
// id prefixes. The server serves a copy of web/dist so that an "upgrade" can rename its chunks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ADMIN, Api, axeCheck, launchBrowser, mqttPublish, screenshot, startIotad, webDir } from './harness.mjs';

let server, chrome, admin, dist;
const PW = 'owner-password-1';

before(async () => {
  dist = mkdtempSync(join(tmpdir(), 'iotad-dist-'));
  cpSync(join(webDir, 'dist'), dist, { recursive: true });
  server = await startIotad({ dist });
  chrome = await launchBrowser();
  admin = await Api.login(server.base, ADMIN.email, ADMIN.password);
});

after(async () => {
  await chrome?.close();
  await server?.stop();
  if (dist) rmSync(dist, { recursive: true, force: true });
});

async function newPage(viewport = { width: 1440, height: 900 }) {
  const ctx = await chrome.browser.newContext({ viewport });
  const p = await ctx.newPage();
  p.setDefaultTimeout(10000);
  return p;
}

async function login(p, email = ADMIN.email, password = ADMIN.password) {
  await p.goto(`${server.base}/login`);
  await p.getByLabel('E-mail').fill(email);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('heading', { name: 'Overview' }).waitFor();
}

async function expectAccessible(p, name) {
  const v = await axeCheck(p);
  assert.deepEqual(v, [], `${name}: serious/critical accessibility violations:\n${JSON.stringify(v, null, 2)}`);
}

/** A new build: every asset gets a new name and every reference follows (as a new hash would);
 * the precompressed copies are made again, as the build does. */
function upgrade(dir, tag) {
  const assets = join(dir, 'assets');
  for (const f of [...readdirSync(assets).map((n) => join(assets, n)), join(dir, 'index.html.gz'), join(dir, 'index.html.br')])
    if (/\.(gz|br)$/.test(f)) rmSync(f, { force: true });
  const names = readdirSync(assets);
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`(?<=/)(${names.map(esc).join('|')})`, 'g');
  for (const f of ['index.html', ...names.map((n) => join('assets', n))]) {
    if (!/\.(html|js|css)$/.test(f)) continue;
    const path = join(dir, f);
    writeFileSync(path, readFileSync(path, 'utf8').replace(re, (m) => `${tag}${m}`));
  }
  for (const n of names) renameSync(join(assets, n), join(assets, `${tag}${n}`));
  for (const f of ['index.html', ...readdirSync(assets).map((n) => join('assets', n))]) {
    const data = readFileSync(join(dir, f));
    writeFileSync(join(dir, `${f}.gz`), gzipSync(data));
    writeFileSync(join(dir, `${f}.br`), brotliCompressSync(data));
  }
}

async function ingest(key, metrics, ts = Date.now()) {
  const r = await fetch(`${server.base}/api/v1/ingest`, { method: 'POST', headers: { 'X-API-Key': key, 'Content-Type': 'application/json' }, body: JSON.stringify({ ts, metrics }) });
  assert.equal(r.status, 202, await r.text());
}

async function until(fn, what, tries = 100) {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('a missing asset is a plain uncached 404, not JSON', async () => {
  const r = await fetch(`${server.base}/assets/DevicesPage-0ld0ld.js`);
  assert.equal(r.status, 404);
  assert.match(r.headers.get('content-type'), /^text\/plain/);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.equal(await r.text(), '404 not found\n');
  // and what exists goes out precompressed (brotli from the build) to a browser that takes it
  const html = await (await fetch(`${server.base}/`)).text();
  const entry = /src="(\/assets\/[^"]+\.js)"/.exec(html)[1];
  const { request } = await import('node:http');
  const enc = await new Promise((res, rej) => request(`${server.base}${entry}`, { headers: { 'Accept-Encoding': 'br, gzip' } }, (m) => {
    let n = 0;
    m.on('data', (c) => (n += c.length)).on('end', () => res({ coding: m.headers['content-encoding'], vary: m.headers.vary, bytes: n }));
  }).on('error', rej).end());
  assert.equal(enc.coding, 'br');
  assert.equal(enc.vary, 'Accept-Encoding');
  assert.ok(enc.bytes < 200 * 1024, `entry chunk ${enc.bytes} bytes as brotli`);
});

test('server down, then upgraded under an open tab: the shell stays, views recover without a manual reload', async () => {
  const p = await newPage();
  await login(p);
  await p.evaluate(() => (window.__sameDocument = true));

  // the server stops: every page says so; a view not loaded yet explains and waits in the shell
  await server.stop({ keep: true });
  await p.getByTestId('server-down').waitFor();
  await p.getByRole('link', { name: 'Security' }).first().click();
  await p.getByTestId('view-error').filter({ hasText: 'Cannot reach the server' }).waitFor();
  assert.ok(await p.getByRole('navigation', { name: 'Main' }).isVisible(), 'navigation still there');
  await screenshot(p, '40-server-down');
  await expectAccessible(p, 'server down');

  // it comes back upgraded (every chunk renamed): the page reloads by itself and shows the view
  upgrade(dist, 'v2-');
  server = await startIotad({ dist, dataDir: server.dataDir, httpPort: server.httpPort });
  await p.getByRole('heading', { name: 'Security' }).waitFor({ timeout: 20000 });
  assert.equal(await p.evaluate(() => window.__sameDocument), undefined, 'the page reloaded itself');
  assert.equal(await p.getByTestId('server-down').count(), 0);

  // upgraded again while the tab stays open on old code: the next new view reloads once more
  upgrade(dist, 'v3-');
  await p.evaluate(() => {
    sessionStorage.clear(); // a later upgrade, past the reload guard
    window.__sameDocument = true;
  });
  await p.getByRole('link', { name: 'Incidents' }).first().click();
  await p.getByRole('heading', { name: 'Incidents' }).waitFor({ timeout: 20000 });
  assert.equal(await p.evaluate(() => window.__sameDocument), undefined, 'reloaded for the new build');

  // upgraded yet again right away: a second automatic reload within the guard period could be
  // a loop (a build that stays broken), so the view asks the user instead. The reload above
  // stamped the guard; it is stamped again here so that the guard period (30 s) cannot run out
  // while this loaded machine renders (it did once: 140 s for this test)
  await p.evaluate(() => sessionStorage.setItem('iotad.chunkReloadAt', String(Date.now())));
  upgrade(dist, 'v4-');
  await p.getByRole('link', { name: 'Alerts' }).first().click();
  await p.getByTestId('view-error').filter({ hasText: 'still fails to load' }).waitFor({ timeout: 20000 });
  assert.ok(await p.getByRole('navigation', { name: 'Main' }).isVisible());
  await p.getByRole('button', { name: 'Reload the page' }).click();
  await p.getByRole('heading', { name: 'Alerts' }).waitFor({ timeout: 20000 });
  await p.context().close();
});

test('one anomaly, one open incident: the anomalies view shows it, offers it instead of a second, and resolving settles it', async () => {
  const owner = await admin.req('POST', '/api/v1/users', { email: 'olive@example.com', password: PW, role: 'device_owner', name: 'Olive Owner' }, 201);
  const dev = await admin.req('POST', '/api/v1/devices', { name: 'chiller-7', type: 'chiller', location: 'Roof', firmware: '1', owner_id: owner.id }, 201);
  const { key } = await admin.req('POST', `/api/v1/devices/${dev.id}/keys`, {}, 201);
  await admin.req('POST', '/api/v1/rules', { name: 'chiller hot', device_id: dev.id, metric: 'temp', kind: 'above', threshold: 30, for_ms: 0, severity: 'critical' }, 201);
  await admin.req('POST', '/api/v1/rules', { name: 'chiller loud', device_id: dev.id, metric: 'noise', kind: 'above', threshold: 80, for_ms: 0, severity: 'warning' }, 201);

  const p = await newPage();
  await login(p);
  await p.goto(`${server.base}/anomalies?state=open`);
  await p.getByRole('heading', { name: 'Anomalies' }).waitFor();
  const t0 = Date.now();
  await ingest(key, { temp: 20, noise: 40 }, t0 - 10);
  await ingest(key, { temp: 45, noise: 95 }, t0);
  const hot = p.locator('ul[aria-label="Anomalies"] li').filter({ hasText: "rule 'chiller hot'" });
  const loud = p.locator('ul[aria-label="Anomalies"] li').filter({ hasText: "rule 'chiller loud'" });
  // the automatic incident of the critical one shows on its row, live
  await hot.getByTestId('anomaly-incident').waitFor({ timeout: 8000 });
  assert.equal(await loud.getByTestId('anomaly-incident').count(), 0);
  const auto = (await admin.req('GET', '/api/v1/incidents?status=open')).items;
  assert.equal(auto.length, 1);

  // selecting both offers the open incident, not a second one
  await hot.getByRole('checkbox').check();
  await loud.getByRole('checkbox').check();
  await p.getByRole('button', { name: 'Open incident' }).click();
  const dlg = p.getByRole('dialog');
  await dlg.getByRole('heading', { name: 'Already in an open incident' }).waitFor();
  assert.equal(await dlg.getByLabel('Title').count(), 0, 'no new incident offered');
  await screenshot(p, '41-anomaly-existing-incident');
  await expectAccessible(p, 'existing incident dialog');
  await dlg.getByRole('button', { name: 'Add 1 to this incident' }).click();
  await p.waitForURL(new RegExp(`/incidents/${auto[0].id}$`));
  await p.getByTestId('incident-anomalies').locator('li').nth(1).waitFor();
  assert.equal((await admin.req('GET', '/api/v1/incidents')).total, 1, 'still one incident');

  // the owner counts one open incident on the Overview
  const op = await newPage();
  await login(op, 'olive@example.com', PW);
  await op.getByTestId('tile-incidents').getByText('new').waitFor();
  assert.deepEqual(await op.getByTestId('tile-incidents').locator('.text-2xl').allTextContents(), ['1', '0']);

  // resolving both anomalies in the Anomalies view resolves the incident (nothing open left)
  await p.goto(`${server.base}/anomalies?state=open`);
  for (const row of [hot, loud]) {
    await row.getByRole('button').first().click();
    await p.getByTestId('anomaly-incident-link').getByRole('link').waitFor();
    await p.getByRole('button', { name: 'False positive' }).click();
    await row.waitFor({ state: 'detached' });
  }
  const settled = await admin.req('GET', `/api/v1/incidents/${auto[0].id}`);
  assert.equal(settled.status, 'resolved');
  assert.equal(settled.verdict, 'false_positive');
  assert.equal(settled.timeline.at(-1).detail.reason, 'anomalies_resolved');
  // and the owner's Overview follows, without a reload
  await op.getByTestId('tile-incidents').locator('.text-2xl').first().filter({ hasText: /^0$/ }).waitFor({ timeout: 15000 });
  assert.deepEqual(await op.getByTestId('tile-incidents').locator('.text-2xl').allTextContents(), ['0', '0']);
  await op.context().close();
  await p.context().close();
});

test('an incident opened meanwhile by someone else is offered instead of a second one (409)', async () => {
  const dev = await admin.req('POST', '/api/v1/devices', { name: 'pump-3', type: 'pump', location: 'Basement', firmware: '1' }, 201);
  const { key } = await admin.req('POST', `/api/v1/devices/${dev.id}/keys`, {}, 201);
  const longName = 'vibration far above the commissioning baseline of the pump bearings on the north side of the building';
  await admin.req('POST', '/api/v1/rules', { name: longName, device_id: dev.id, metric: 'vibration', kind: 'above', threshold: 5, for_ms: 0, severity: 'warning' }, 201);
  const t0 = Date.now();
  await ingest(key, { vibration: 1 }, t0 - 10);
  await ingest(key, { vibration: 9 }, t0);
  const a = await until(async () => (await admin.req('GET', `/api/v1/anomalies?device_id=${dev.id}`)).items[0], 'the anomaly');

  for (const viewport of [{ width: 390, height: 844 }, { width: 1440, height: 900 }]) {
    const p = await newPage(viewport);
    // no live stream on the wide page: the list cannot learn about the other incident, only
    // the server's 409 can tell
    if (viewport.width === 1440) await p.routeWebSocket(/\/api\/v1\/stream/, () => {});
    await login(p);
    await p.goto(`${server.base}/anomalies?device=${dev.id}&state=open`);
    const row = p.locator('ul[aria-label="Anomalies"] li').first();
    await row.getByRole('checkbox').check();
    await p.getByRole('button', { name: 'Open incident' }).click();
    const dlg = p.getByRole('dialog');
    await dlg.getByLabel('Title').waitFor();
    // nothing runs past the dialog's edges, even with a very long description
    const box = await dlg.boundingBox();
    for (const el of [dlg.getByLabel('Title'), dlg.getByRole('button', { name: 'Open incident' }), dlg.getByRole('button', { name: 'Cancel' })]) {
      const b = await el.boundingBox();
      assert.ok(b.x >= box.x && b.x + b.width <= box.x + box.width + 0.5, `${viewport.width}px: inside the dialog (${JSON.stringify([b, box])})`);
    }
    assert.ok(box.x >= 0 && box.x + box.width <= viewport.width, 'dialog on screen');
    await screenshot(p, `42-open-incident-dialog-${viewport.width}`);
    if (viewport.width === 1440) {
      await expectAccessible(p, 'open incident dialog');
      // someone else opens an incident with it meanwhile: the server's 409 turns into the offer
      const other = await admin.req('POST', '/api/v1/incidents', { anomaly_ids: [a.id], title: 'Pump 3 vibration (opened elsewhere)' }, 201);
      await dlg.getByRole('button', { name: 'Open incident' }).click();
      await dlg.getByText('Pump 3 vibration (opened elsewhere)').waitFor();
      await dlg.getByRole('button', { name: 'Go to the incident' }).click();
      await p.waitForURL(new RegExp(`/incidents/${other.id}$`));
    }
    await p.context().close();
  }
});

test('device names, not 8-character id prefixes, on the Overview', async () => {
  const d = await admin.req('POST', '/api/v1/devices', { name: 'gate-12', type: 'gate', location: 'Dock', firmware: '1' }, 201);
  await assert.rejects(mqttPublish(server.mqttPort, d.id, 'wrong-key-123456', { metrics: { x: 1 } }));
  const p = await newPage();
  await login(p);
  await p.getByTestId('security-events').getByRole('link', { name: 'gate-12' }).first().waitFor();
  assert.ok(!(await p.getByTestId('security-events').textContent()).includes(`${d.id.slice(0, 8)}…`));
  await p.context().close();
});

test('drag-to-zoom changes the axis; live points do not undo it; a zoomed span goes into the URL', async () => {
  const dev = await admin.req('POST', '/api/v1/devices', { name: 'boiler-z', type: 'boiler', location: 'Plant 2', firmware: '1' }, 201);
  const { key } = await admin.req('POST', `/api/v1/devices/${dev.id}/keys`, {}, 201);
  await admin.req('POST', '/api/v1/rules', { name: 'boiler-z hot', device_id: dev.id, metric: 'temp', kind: 'above', threshold: 90, for_ms: 0, severity: 'warning' }, 201);
  const now = Date.now();
  const batch = Array.from({ length: 120 }, (_, i) => ({ ts: now - 600_000 + i * 5000, metrics: { temp: +(40 + 5 * Math.sin(i / 8)).toFixed(2) } }));
  const r = await fetch(`${server.base}/api/v1/ingest`, { method: 'POST', headers: { 'X-API-Key': key, 'Content-Type': 'application/json' }, body: JSON.stringify(batch) });
  assert.equal(r.status, 202);

  const p = await newPage();
  await login(p);
  await p.goto(`${server.base}/devices/${dev.id}`);
  const chart = p.getByTestId('chart-temp');
  await p.waitForFunction(() => Number(document.querySelector('[data-testid="chart-temp"]')?.dataset.points) >= 120);
  const attr = () => chart.evaluate((e) => ({ min: Number(e.dataset.xMin), max: Number(e.dataset.xMax), points: Number(e.dataset.points) }));
  const drag = async (a, b) => {
    const over = chart.locator('.u-over');
    await over.waitFor(); // visible: a range change re-creates the plot (its rollup changes)
    const box = await over.boundingBox();
    await p.mouse.move(box.x + box.width * a, box.y + box.height / 2);
    await p.mouse.down();
    await p.mouse.move(box.x + box.width * b, box.y + box.height / 2, { steps: 10 });
    await p.mouse.up();
  };
  const live = await attr();
  assert.ok(live.max - live.min > 14 * 60_000, 'live shows 15 minutes');
  await drag(0.4, 0.7);
  await chart.and(p.locator('[data-zoomed="true"]')).waitFor();
  const z = await attr();
  const width = live.max - live.min;
  assert.ok(Math.abs(z.min - (live.min + 0.4 * width)) < width * 0.05 && Math.abs(z.max - (live.min + 0.7 * width)) < width * 0.05, `zoomed axis ${JSON.stringify({ live, z })}`);
  await screenshot(p, '43-device-live-zoom');
  await expectAccessible(p, 'device zoomed');
  // a new point arrives live: painted, and the zoom stays
  await ingest(key, { temp: 44.4 });
  await p.waitForFunction((n) => Number(document.querySelector('[data-testid="chart-temp"]')?.dataset.points) > n, z.points);
  const after = await attr();
  assert.deepEqual([after.min, after.max], [z.min, z.max], 'the zoom survives live points');
  await p.getByRole('button', { name: 'Reset zoom' }).click();
  await p.waitForFunction(() => !document.querySelector('[data-testid="chart-temp"]')?.dataset.zoomed);

  // in a preset range, the span becomes the URL's range and is fetched again
  await p.getByRole('radio', { name: '1 h' }).click();
  await p.getByText('Rollups: 5 s buckets').waitFor();
  // painted by the new plot over the hour (the live plot's 15 minutes and points linger until then)
  await p.waitForFunction(() => {
    const e = document.querySelector('[data-testid="chart-temp"]');
    return e && Number(e.dataset.points) > 0 && Number(e.dataset.xMax) - Number(e.dataset.xMin) > 50 * 60_000;
  });
  await drag(0.8, 0.98);
  await p.waitForURL(/from=\d+&to=\d+/);
  const u = new URL(p.url());
  const from = Number(u.searchParams.get('from')), to = Number(u.searchParams.get('to'));
  await p.waitForFunction(([f, t]) => {
    const e = document.querySelector('[data-testid="chart-temp"]');
    return e && Number(e.dataset.xMin) === f && Number(e.dataset.xMax) === t;
  }, [from, to]);
  await p.getByTestId('range-note').filter({ hasText: '1 s buckets' }).waitFor(); // finer resolution for a short span
  // the URL is the view: reloading it shows the same span
  await p.reload();
  await p.waitForFunction(([f, t]) => {
    const e = document.querySelector('[data-testid="chart-temp"]');
    return e && Number(e.dataset.xMin) === f && Number(e.dataset.xMax) === t;
  }, [from, to]);
  // Earlier / Later move the span by half its width; each is a step in the history
  const spanAt = ([f, t]) => p.waitForFunction(([f, t]) => {
    const e = document.querySelector('[data-testid="chart-temp"]');
    return e && Number(e.dataset.xMin) === f && Number(e.dataset.xMax) === t;
  }, [f, t]);
  const shift = Math.trunc((to - from) * -0.5);
  await p.getByRole('button', { name: 'Earlier' }).click();
  await spanAt([from + shift, to + shift]);
  assert.equal(new URL(p.url()).searchParams.get('from'), String(from + shift));
  await p.getByRole('button', { name: 'Later' }).click();
  await spanAt([from, to]);
  await p.goBack();
  await spanAt([from + shift, to + shift]);
  await p.goBack();
  await p.goBack();
  await p.getByText('Rollups: 5 s buckets').waitFor();
  await p.context().close();
});

test('reports: generate with progress, preview, download PDF/CSV/JSON, schedules; exports with a verifiable manifest', async () => {
  const p = await newPage();
  await login(p);
  await p.getByRole('link', { name: 'Reports' }).first().click();
  await p.getByRole('heading', { name: 'Reports & exports' }).waitFor();
  await p.getByTestId('empty-state').first().waitFor();
  await screenshot(p, '44-reports-empty');
  await expectAccessible(p, 'reports empty');
  await p.getByRole('button', { name: 'Generate' }).click();
  const row = p.locator('[data-testid="report-row"]').first();
  await row.and(p.locator('[data-status="done"]')).waitFor({ timeout: 20000 });
  await row.getByRole('button', { name: /^Preview/ }).click();
  const preview = p.getByTestId('report-preview');
  await preview.getByRole('heading', { name: 'Security report' }).waitFor();
  await preview.getByText('Auth failures').first().waitFor();
  await preview.getByRole('button', { name: 'Show the PDF' }).click();
  await preview.getByTestId('report-pdf').waitFor();
  await screenshot(p, '45-report-preview');
  await expectAccessible(p, 'report preview');
  const bytes = async (name) => {
    const [dl] = await Promise.all([p.waitForEvent('download'), row.getByRole('link', { name }).click()]);
    return readFileSync(await dl.path());
  };
  assert.equal((await bytes(/as PDF$/)).subarray(0, 5).toString(), '%PDF-');
  assert.match((await bytes(/as CSV$/)).toString(), /^section,key,value/);
  assert.equal(JSON.parse((await bytes(/as JSON$/)).toString()).kind, 'security');

  await p.getByRole('tab', { name: 'Schedules' }).click();
  await p.getByLabel('Name').fill('daily security');
  await p.getByRole('button', { name: 'Add schedule' }).click();
  await p.getByTestId('schedule-row').filter({ hasText: 'daily security' }).waitFor();
  await screenshot(p, '46-report-schedules');
  await expectAccessible(p, 'report schedules');
  // its first run shows in the reports list, marked as scheduled
  await p.getByRole('tab', { name: 'Reports' }).click();
  await p.getByRole('button', { name: 'Generate' }).waitFor();
  await until(async () => (await admin.req('GET', '/api/v1/reports')).items.some((x) => x.schedule_id != null && x.status === 'done'), 'the scheduled report', 200);
  await p.reload();
  await p.locator('[data-testid="report-row"]').filter({ hasText: 'scheduled' }).first().waitFor();
  await p.getByRole('tab', { name: 'Schedules' }).click();
  p.once('dialog', (d) => d.accept());
  await p.getByRole('button', { name: 'Delete schedule daily security' }).click();
  await p.getByTestId('schedule-row').waitFor({ state: 'detached' });

  await p.getByRole('tab', { name: 'Forensic exports' }).click();
  const [dl] = await Promise.all([p.waitForEvent('download'), p.getByTestId('start-export').click()]);
  const text = readFileSync(await dl.path(), 'utf8');
  const lines = text.trimEnd().split('\n');
  const manifest = JSON.parse(lines.at(-1));
  assert.equal(manifest.type, 'manifest');
  const body = text.slice(0, text.lastIndexOf(lines.at(-1)));
  assert.equal(createHash('sha256').update(body).digest('hex'), manifest.sha256, 'the manifest hashes every byte before it');
  const exp = p.locator('[data-testid="export-row"][data-status="done"]').first();
  await exp.getByTestId('export-sha256').filter({ hasText: manifest.sha256 }).waitFor();
  const [mdl] = await Promise.all([p.waitForEvent('download'), exp.getByRole('link', { name: 'Manifest' }).click()]);
  assert.equal(JSON.parse(readFileSync(await mdl.path(), 'utf8')).sha256, manifest.sha256);
  await screenshot(p, '47-exports');
  await expectAccessible(p, 'exports');
  await p.context().close();

  // a device owner exports own devices only: no report tabs
  const op = await newPage();
  await login(op, 'olive@example.com', PW);
  await op.goto(`${server.base}/reports`);
  await op.getByRole('heading', { name: 'Reports & exports' }).waitFor();
  assert.deepEqual(await op.getByRole('tab').allTextContents(), ['Forensic exports']);
  await op.context().close();
});

test('an Admin gives devices to a device owner, one or several at a time', async () => {
  const owner = (await admin.req('GET', '/api/v1/users')).items.find((u) => u.email === 'olive@example.com');
  const made = [];
  for (const name of ['meter-a', 'meter-b', 'meter-c'])
    made.push(await admin.req('POST', '/api/v1/devices', { name, type: 'meter', location: 'Block 9', firmware: '1' }, 201));
  const p = await newPage();
  await login(p);
  await p.goto(`${server.base}/devices/${made[0].id}`);
  await p.getByRole('button', { name: 'Edit' }).click();
  const dlg = p.getByRole('dialog');
  await dlg.getByLabel('Owner').selectOption({ label: 'Olive Owner · Device owner' });
  await screenshot(p, '48-device-owner');
  await dlg.getByRole('button', { name: 'Save' }).click();
  await p.getByTestId('device-owner').filter({ hasText: 'Olive Owner' }).waitFor();
  assert.equal((await admin.req('GET', `/api/v1/devices/${made[0].id}`)).owner_id, owner.id);

  // bulk: tick two in the list, assign
  await p.goto(`${server.base}/devices`);
  await p.getByLabel('Search devices').fill('meter-');
  await p.getByText(/^3 of \d+ devices$/).waitFor();
  await p.getByRole('checkbox', { name: 'Select meter-b' }).check();
  await p.getByRole('checkbox', { name: 'Select meter-c' }).check();
  await p.getByRole('button', { name: 'Assign owner…' }).click();
  await p.getByRole('dialog').getByLabel('Owner').selectOption({ label: 'Olive Owner · Device owner' });
  await expectAccessible(p, 'bulk assign');
  await p.getByRole('dialog').getByRole('button', { name: 'Assign 2' }).click();
  await p.getByRole('dialog').waitFor({ state: 'detached' });
  for (const d of made) assert.equal((await admin.req('GET', `/api/v1/devices/${d.id}`)).owner_id, owner.id);
  await p.context().close();

  const op = await newPage();
  await login(op, 'olive@example.com', PW);
  await op.getByRole('link', { name: 'Devices' }).first().click();
  for (const name of ['meter-a', 'meter-b', 'meter-c']) await op.getByRole('link', { name, exact: true }).waitFor();
  await op.context().close();
});

test('the Overview follows the stream, and each count opens the list it counts', async () => {
  const dev = await admin.req('POST', '/api/v1/devices', { name: 'kiln-4', type: 'kiln', location: 'Hall', firmware: '1' }, 201);
  const { key } = await admin.req('POST', `/api/v1/devices/${dev.id}/keys`, {}, 201);
  await admin.req('POST', '/api/v1/rules', { name: 'kiln hot', device_id: dev.id, metric: 'temp', kind: 'above', threshold: 900, for_ms: 0, severity: 'critical' }, 201);
  const p = await newPage();
  await login(p);
  const crit = p.getByTestId('open-critical');
  await crit.waitFor();
  const n0 = Number((await crit.locator('.text-2xl').textContent()).replace(/,/g, ''));
  const t0 = Date.now();
  await ingest(key, { temp: 20 }, t0 - 10);
  await ingest(key, { temp: 950 }, t0);
  await crit.locator('.text-2xl').filter({ hasText: new RegExp(`^${n0 + 1}$`) }).waitFor({ timeout: 10000 }); // no reload
  await p.getByTestId('open-incidents').getByText('kiln-4').first().waitFor();
  await screenshot(p, '49-overview');
  await expectAccessible(p, 'overview');
  await crit.click();
  await p.getByRole('heading', { name: 'Anomalies', level: 1 }).waitFor();
  assert.match(p.url(), /severity=critical&state=open/);
  await p.getByText(`· ${n0 + 1} matching`).waitFor();
  assert.equal(await p.locator('ul[aria-label="Anomalies"] > li').count(), n0 + 1, 'the tile counts what the list shows');

  // server down: the tiles keep their values and say they are stale
  await p.goto(`${server.base}/`);
  await crit.waitFor();
  await server.stop({ keep: true });
  await p.getByTestId('server-down').waitFor();
  await p.getByTestId('tile-anomalies').and(p.locator('[data-stale="true"]')).waitFor();
  await screenshot(p, '50-overview-stale');
  server = await startIotad({ dist, dataDir: server.dataDir, httpPort: server.httpPort });
  admin = await Api.login(server.base, ADMIN.email, ADMIN.password);
  await p.getByTestId('server-down').waitFor({ state: 'detached', timeout: 20000 });
  await p.getByTestId('tile-anomalies').and(p.locator(':not([data-stale])')).waitFor({ timeout: 20000 });
  await p.context().close();
});

test('on a phone, the menu reaches every view', async () => {
  const p = await newPage({ width: 390, height: 844 });
  await login(p);
  const views = [['Devices', 'Devices'], ['Anomalies', 'Anomalies'], ['Security', 'Security'], ['Incidents', 'Incidents'], ['Alerts', 'Alerts'], ['Reports', 'Reports & exports'], ['Admin', 'Admin'], ['Overview', 'Overview']];
  for (const [link, heading] of views) {
    await p.getByRole('button', { name: 'Open the menu' }).click();
    const menu = p.getByRole('navigation', { name: 'Main (menu)' });
    if (link === 'Devices') {
      await screenshot(p, '51-phone-menu');
      await expectAccessible(p, 'phone menu');
    }
    await menu.getByRole('link', { name: link }).click();
    await p.getByRole('heading', { name: heading, exact: true }).waitFor();
    await menu.waitFor({ state: 'detached' });
  }
  assert.ok(await p.getByTestId('stream-state').isVisible(), 'the live indicator is shown on phones');
  // wide tables scroll inside their card; nothing (an sr-only header either) widens the page
  const sideways = () => p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  const devs = (await admin.req('GET', '/api/v1/devices?limit=1')).items;
  await admin.req('POST', '/api/v1/rules', { name: 'phone width check', device_id: devs[0]?.id, metric: 'temp', kind: 'above', threshold: 99, for_ms: 0, severity: 'info' }, 201);
  await p.goto(`${server.base}/alerts?tab=rules`);
  await p.getByTestId('rule-row').first().waitFor();
  assert.equal(await sideways(), 0, 'the rules page scrolls sideways on a phone');
  await p.goto(`${server.base}/admin`);
  await p.getByRole('cell', { name: ADMIN.email }).first().waitFor();
  assert.equal(await sideways(), 0, 'the users page scrolls sideways on a phone');
  await p.goto(`${server.base}/devices`);
  await p.getByTestId('device-row').first().waitFor();
  await screenshot(p, '52-phone-devices');
  await expectAccessible(p, 'phone devices');
  await p.context().close();
});

test('on a phone, no view scrolls sideways, every device tab is visible and reachable, lists are cards', async () => {
  const dev = await admin.req('POST', '/api/v1/devices', { name: 'phone-boiler-with-a-rather-long-name-3', type: 'boiler', location: 'Plant room B' }, 201);
  const { key } = await admin.req('POST', `/api/v1/devices/${dev.id}/keys`, { name: 'field unit' }, 201);
  await admin.req('POST', '/api/v1/rules', { name: 'phone boiler hot', device_id: dev.id, metric: 'temp', kind: 'above', threshold: 90, for_ms: 0, severity: 'critical' }, 201);
  await ingest(key, { temp: 20 }, Date.now() - 10);
  await ingest(key, { temp: 95 }, Date.now());
  await until(async () => (await admin.req('GET', `/api/v1/anomalies?device_id=${dev.id}&limit=1`)).total > 0, 'the anomaly');
  const p = await newPage({ width: 390, height: 844 });
  await login(p);
  // the page itself and the scrolling <main> both: nothing wider than the screen
  const sideways = () => p.evaluate(() => {
    const m = document.getElementById('main');
    return Math.max(document.documentElement.scrollWidth - window.innerWidth, m ? m.scrollWidth - m.clientWidth : 0);
  });
  const inView = async (loc, what) => {
    const b = await loc.boundingBox();
    assert.ok(b && b.x >= 0 && b.x + b.width <= 390 + 0.5, `${what} is cut at the edge: ${JSON.stringify(b)}`);
  };

  await p.goto(`${server.base}/devices/${dev.id}`);
  const tabs = p.getByRole('tablist').getByRole('tab');
  await tabs.first().waitFor();
  assert.deepEqual(await tabs.allTextContents(), ['Telemetry', 'Status history', 'Security', 'API keys']);
  for (let i = 0; i < 4; i++) await inView(tabs.nth(i), `tab ${await tabs.nth(i).textContent()}`);
  await screenshot(p, '53-phone-device-tabs');
  for (const [name, ready] of [['Status history', () => p.getByRole('heading', { name: 'Events' })], ['Security', () => p.getByRole('tabpanel')], ['API keys', () => p.getByRole('cell', { name: 'field unit' })], ['Telemetry', () => p.getByRole('tabpanel')]]) {
    await tabs.filter({ hasText: name }).click();
    await p.getByRole('tab', { name, selected: true }).waitFor();
    await ready().first().waitFor();
    assert.equal(await sideways(), 0, `device tab ${name} scrolls sideways`);
    if (name === 'API keys') {
      // a key is a card: its row is a block as wide as the card, each value under its label
      const row = p.getByRole('cell', { name: 'field unit' }).locator('xpath=..');
      assert.equal(await row.evaluate((r) => getComputedStyle(r).display), 'block');
      await inView(row, 'the key card');
      await screenshot(p, '54-phone-device-keys');
    }
  }

  const views = [
    ['/devices', () => p.getByTestId('device-row').first()],
    ['/anomalies', () => p.locator('ul[aria-label="Anomalies"] li').first()],
    ['/incidents', () => p.getByTestId('incident-board')],
    ['/alerts', () => p.getByRole('tab', { name: 'History', selected: true })],
    ['/alerts?tab=rules', () => p.getByTestId('rule-row').first()],
    ['/admin', () => p.getByRole('cell', { name: ADMIN.email }).first()],
  ];
  for (const [path, ready] of views) {
    await p.goto(`${server.base}${path}`);
    await ready().waitFor();
    assert.equal(await sideways(), 0, `${path} scrolls sideways on a phone`);
  }
  // rules are cards, not a table to scroll
  const rule = p.getByTestId('rule-row').first();
  await p.goto(`${server.base}/alerts?tab=rules`);
  await rule.waitFor();
  assert.equal(await rule.evaluate((r) => getComputedStyle(r).display), 'block');
  await inView(rule, 'a rule card');
  await screenshot(p, '55-phone-rules');
  // an anomaly picked on a phone: its explanation (below the list) is scrolled into view
  await p.goto(`${server.base}/anomalies?device=${dev.id}&state=all`);
  await p.locator('ul[aria-label="Anomalies"] li').first().getByRole('button').click();
  await p.getByRole('heading', { name: 'Explanation' }).waitFor();
  await p.waitForFunction(() => {
    const h = [...document.querySelectorAll('h2')].find((e) => e.textContent === 'Explanation');
    const r = h?.getBoundingClientRect();
    return !!r && r.top >= 0 && r.bottom <= window.innerHeight;
  });
  await screenshot(p, '56-phone-anomaly-explained');
  await p.context().close();
});

// (last in this file: its 500 anomalies would be the newest in the other tests' lists)
test('500 anomalies and a live burst: the list keeps only the rows in view in the page, all reachable', async () => {
  const dev = await admin.req('POST', '/api/v1/devices', { name: 'burst-pump', type: 'pump', location: 'Basement' }, 201);
  const { key } = await admin.req('POST', `/api/v1/devices/${dev.id}/keys`, {}, 201);
  await admin.req('POST', '/api/v1/rules', { name: 'pump surge', device_id: dev.id, metric: 'temp', kind: 'above', threshold: 50, for_ms: 0, severity: 'warning' }, 201);
  // values alternating above and below the threshold: one anomaly per up-crossing
  const crossings = (n, from, t) => Array.from({ length: n }, (_, i) => [{ metric: 'temp', ts: t + 2 * i, value: from + i }, { metric: 'temp', ts: t + 2 * i + 1, value: 0 }]).flat();
  const post = async (pts) => {
    const r = await fetch(`${server.base}/api/v1/ingest`, { method: 'POST', headers: { 'X-API-Key': key, 'Content-Type': 'application/json' }, body: JSON.stringify(pts) });
    assert.equal(r.status, 202, await r.text());
  };
  const t0 = Date.now() - 3_600_000;
  await post(crossings(500, 100, t0));
  await until(async () => (await admin.req('GET', `/api/v1/anomalies?device_id=${dev.id}&resolved=false&limit=1`)).total >= 500, '500 anomalies');

  const p = await newPage();
  await login(p);
  await p.goto(`${server.base}/anomalies?device=${dev.id}&state=open`);
  const list = p.getByTestId('anomaly-list');
  await list.and(p.locator('[data-count="500"]')).waitFor();
  const rows = p.locator('ul[aria-label="Anomalies"] > li');
  const inDom = await rows.count();
  assert.ok(inDom > 0 && inDom <= 60, `rows in the page while 500 exist: ${inDom}`);
  await p.getByText(/500 matching/).waitFor();

  // a burst of 50 newer ones arrives live: the newest is on top, the list stays the newest 500
  await post(crossings(50, 2000, t0 + 10_000));
  await rows.first().filter({ hasText: 'temp = 2049 above 50' }).waitFor({ timeout: 15000 });
  await p.getByText(/newest 500 of 550 matching/).waitFor();
  assert.equal(await list.getAttribute('data-count'), '500');
  assert.ok((await rows.count()) <= 60, 'rows in the page after the burst');

  // the oldest one kept is reachable by scrolling
  await p.getByTestId('anomaly-scroller').evaluate((el) => (el.scrollTop = el.scrollHeight));
  const last = p.locator('ul[aria-label="Anomalies"] > li[aria-posinset="500"]');
  await last.waitFor();
  assert.match(await last.textContent(), /temp = 150 above 50/);
  await screenshot(p, '60-anomalies-500-scrolled');
  await p.context().close();
});
