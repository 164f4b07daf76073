#!/usr/bin/env node
// Walks the dashboard as a user would, for looking at: starts iotad with the simulated fleet
// (its backfilled week of history and scripted first-run scenario), makes an Analyst and a
// DeviceOwner (given three devices), then for each role at 1440x900 and 390x844 opens every
// view and saves a full-page screenshot to web/e2e/screenshots/walk/<role>-<width>-<view>.png.
// Prints one line per page: role, width, view, load time, console errors, horizontal overflow.
//
//   node scripts/walk.mjs [--wait-s 150] [--only admin|analyst|owner]
// Needs a build (build/iotad or IOTAD_BIN), web/dist, chromium (as the e2e suite).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN, Api, launchBrowser, screenshotDir, startIotad } from '../e2e/harness.mjs';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const WAIT_S = Number(opt('wait-s', 150));
const only = opt('only', '');
const outDir = join(screenshotDir, 'walk');
mkdirSync(outDir, { recursive: true });
const PASSWORD = 'a-long-walk-password';

const server = await startIotad({ args: ['--simulate'] });
const chrome = await launchBrowser();
try {
  const admin = await Api.login(server.base, ADMIN.email, ADMIN.password);
  await admin.req('POST', '/api/v1/users', { email: 'analyst@example.com', password: PASSWORD, role: 'analyst', name: 'Ana Lyst' });
  const owner = await admin.req('POST', '/api/v1/users', { email: 'owner@example.com', password: PASSWORD, role: 'device_owner', name: 'Owen Ner' });
  const devs = (await admin.req('GET', '/api/v1/devices?limit=3')).items;
  for (const d of devs) await admin.req('PATCH', `/api/v1/devices/${d.id}`, { owner_id: owner.id });
  console.error(`[walk] waiting ${WAIT_S} s for the first-run scenario`);
  await new Promise((r) => setTimeout(r, WAIT_S * 1000));
  const inc = (await admin.req('GET', '/api/v1/incidents?limit=1')).items[0];
  const views = [
    ['overview', '/'],
    ['devices', '/devices'],
    ['device', `/devices/${devs[0].id}`],
    ['device-24h', `/devices/${devs[0].id}?range=24h`],
    ['anomalies', '/anomalies'],
    ['security', '/security'],
    ['incidents', '/incidents'],
    ...(inc ? [['incident', `/incidents/${inc.id}`]] : []),
    ['alerts', '/alerts'],
    ['rules', '/alerts?tab=rules'],
    ['reports', '/reports'],
    ['admin', '/admin'],
  ];
  const roles = [
    ['admin', ADMIN.email, ADMIN.password],
    ['analyst', 'analyst@example.com', PASSWORD],
    ['owner', 'owner@example.com', PASSWORD],
  ].filter(([r]) => !only || r === only);
  for (const [role, email, password] of roles) {
    for (const [w, h] of [[1440, 900], [390, 844]]) {
      const ctx = await chrome.browser.newContext({ viewport: { width: w, height: h } });
      const page = await ctx.newPage();
      const errors = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${server.base}/login`);
      await page.getByLabel('E-mail').fill(email);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((u) => !u.pathname.startsWith('/login'));
      for (const [name, path] of views) {
        errors.length = 0;
        const t0 = Date.now();
        await page.goto(`${server.base}${path}`);
        await page.waitForLoadState('networkidle', { timeout: 15000 }).catch(() => {});
        await page.waitForTimeout(800);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        const ms = Date.now() - t0;
        // a page that keeps repainting (the live stream) may never settle for a full-page shot
        const shot = await page
          .screenshot({ path: join(outDir, `${role}-${w}-${name}.png`), fullPage: true, animations: 'disabled', timeout: 20000 })
          .then(() => 'full')
          .catch(() => page.screenshot({ path: join(outDir, `${role}-${w}-${name}.png`), animations: 'disabled', timeout: 20000 }).then(() => 'viewport', (e) => `failed: ${e.message.split('\n')[0]}`));
        console.log(JSON.stringify({ role, w, view: name, ms, overflow_px: overflow, shot, errors: errors.slice(0, 3) }));
      }
      await ctx.close();
    }
  }
} finally {
  await chrome.close();
  await server.stop();
}
