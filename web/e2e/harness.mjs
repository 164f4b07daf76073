// E2E harness: starts a real iotad (binary from IOTAD_BIN, ../build-test/iotad or
// ../build/iotad) on free loopback ports with a temporary data dir serving web/dist, a headless
// Debian chromium via playwright-core, and small helpers (admin API calls, MQTT publish, axe).
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const webDir = resolve(here, '..');
export const screenshotDir = join(here, 'screenshots');
export const ADMIN = { email: 'admin@localhost', password: 'admin-password-for-tests' };

function findBinary() {
  const cands = [process.env.IOTAD_BIN, resolve(webDir, '../build-test/iotad'), resolve(webDir, '../build/iotad')].filter(Boolean);
  for (const c of cands) if (existsSync(c)) return c;
  throw new Error(`iotad binary not found (tried ${cands.join(', ')}); build it or set IOTAD_BIN`);
}

/**
 * Options (all optional): dist (web dir to serve), dataDir (reuse one, e.g. after stop({ keep:
 * true })), keepDataDir (never remove it), httpPort (e.g. the same port again after a restart),
 * args (more `serve` flags).
 */
export async function startIotad(opts = {}) {
  const bin = findBinary();
  const dist = opts.dist ?? join(webDir, 'dist');
  if (!existsSync(join(dist, 'index.html'))) throw new Error('web/dist is missing: run `npm run build` first');
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'iotad-e2e-'));
  const args = ['serve', '--data-dir', dataDir, '--http-listen', `127.0.0.1:${opts.httpPort ?? 0}`, '--mqtt-listen', '127.0.0.1:0', '--web-dir', dist, '--store-sync', 'normal', ...(opts.args ?? [])];
  const proc = spawn(bin, args, {
    // IOTAD_ALERT_ALLOW_PRIVATE: the alert tests deliver webhooks to a receiver on loopback,
    // which the SSRF protection refuses otherwise
    env: { ...process.env, IOTAD_ADMIN_PASSWORD: ADMIN.password, IOTAD_FAST_HASH: '1', IOTAD_ADMIN_EMAIL: ADMIN.email, IOTAD_ALERT_ALLOW_PRIVATE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // never leave a server behind, even if the runner dies mid-suite (e.g. SIGPIPE, Ctrl-C)
  let keep = !!opts.keepDataDir; // a caller's own data dir survives even a crash
  const reap = () => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    if (!keep) rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('exit', reap);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGPIPE']) process.once(sig, () => process.exit(1));
  let log = '';
  const ports = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`iotad did not report its ports within 15 s:\n${log}`)), 15000);
    proc.on('exit', (code) => rej(new Error(`iotad exited (${code}) before listening:\n${log}`)));
    proc.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /msg=listening\b.*?http_port=(\d+).*?mqtt_port=(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        res({ http: Number(m[1]), mqtt: Number(m[2]) });
      }
    });
  });
  proc.stderr.on('data', (c) => {
    log = (log + c).slice(-20000);
  });
  const base = `http://127.0.0.1:${ports.http}`;
  return {
    base,
    httpPort: ports.http,
    mqttPort: ports.mqtt,
    dataDir,
    log: () => log,
    /** keep: leave the data dir for a restart (the caller removes it later) */
    async stop({ keep: keepData = false } = {}) {
      keep = keepData;
      if (proc.exitCode === null) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  // playwright-core itself gives chromium a fresh temporary --user-data-dir per launch
  // (passing one in args is refused), and removes it on close.
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
    },
  };
}

/** Minimal API client for test setup (Bearer token, like a script would use). */
export class Api {
  constructor(base, token) {
    this.base = base;
    this.token = token;
  }
  static async login(base, email, password) {
    const r = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', body: JSON.stringify({ email, password }) });
    if (!r.ok) throw new Error(`login ${email}: ${r.status} ${await r.text()}`);
    return new Api(base, (await r.json()).token);
  }
  async req(method, path, body, okStatus) {
    const r = await fetch(`${this.base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (okStatus ? r.status !== okStatus : !r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }
}

export function mqttPublish(port, deviceId, key, payload) {
  return new Promise((res, rej) => {
    execFile(
      'mosquitto_pub',
      ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-i', `e2e-${Date.now()}-${Math.random().toString(16).slice(2, 8)}`,
        '-u', deviceId, '-P', key, '-t', `devices/${deviceId}/telemetry`, '-m', JSON.stringify(payload)],
      { timeout: 10000 },
      (err, _out, stderr) => (err ? rej(new Error(`mosquitto_pub failed: ${stderr || err.message}`)) : res()),
    );
  });
}

const axeSource = readFileSync(join(webDir, 'node_modules/axe-core/axe.min.js'), 'utf8');

/** Runs axe-core on the page; returns the serious/critical violations (empty = pass). */
export async function axeCheck(page) {
  // evaluated over the DevTools protocol, which the page's Content-Security-Policy does not
  // govern (an injected <script> would be refused: script-src 'self')
  await page.evaluate(axeSource);
  const res = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ' :: ' + (n.failureSummary || '').replace(/\s+/g, ' ').slice(0, 300)) }));
  });
  return res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: false });
}

/** Runs `fn` over `items` with `n` concurrent workers. */
export async function pool(items, n, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) {
      const k = i++;
      await fn(items[k], k);
    }
  }));
}
