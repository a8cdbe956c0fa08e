// Processes for the browser tests: the upstream (upstream.mjs), `hardened serve` gateways
// with generated configs, and headless Chromium through playwright-core. Every process is
// started by this module, remembered by PID and stopped by PID — in the tests' `after`
// hooks, and again on exit or signal if a test run dies half-way. Every wait is bounded.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const browserDir = path.resolve(here, '..');
const repoRoot = path.resolve(browserDir, '..');

export const HARDENED_BIN = process.env.HARDENED_BIN || path.join(repoRoot, 'target', 'debug', 'hardened');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Cases named in BROWSER_SKIP (comma-separated, e.g. `websocket`) are skipped. */
export function skipped(name) {
  return (process.env.BROWSER_SKIP || '').split(',').map((s) => s.trim()).includes(name);
}

const children = new Set();
const tempDirs = new Set();
const browsers = new Set();

function killAll() {
  for (const child of children) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  children.clear();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => {
    killAll();
    // Then close the browsers (bounded), so Playwright removes their profiles.
    await Promise.race([
      Promise.allSettled([...browsers].map((b) => b.close())),
      new Promise((r) => setTimeout(r, 3000)),
    ]);
    process.exit(130);
  });
}

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Stops a child by its PID: SIGTERM, then SIGKILL after `graceMs`. Bounded. */
export async function stopChild(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try { process.kill(child.pid, 'SIGTERM'); } catch { return; }
  const timer = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** Resolves with the first stdout line matching `re`, or rejects after `ms`. */
function waitForLine(child, re, ms, what) {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => done(new Error(`${what}: no ready line within ${ms} ms\nstdout: ${out}\nstderr: ${err}`)), ms);
    const onOut = (d) => {
      out += d;
      for (const line of out.split('\n')) {
        const m = re.exec(line);
        if (m) return done(null, m);
      }
    };
    const onErr = (d) => { err += d; };
    const onExit = (code) => done(new Error(`${what}: exited (${code}) before it was ready\nstdout: ${out}\nstderr: ${err}`));
    function done(e, m) {
      clearTimeout(timer);
      child.stdout.off('data', onOut);
      child.stderr.off('data', onErr);
      child.off('exit', onExit);
      if (e) reject(e); else resolve(m);
    }
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', onOut);
    child.stderr.on('data', onErr);
    child.once('exit', onExit);
  });
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts upstream.mjs. `statics` are port specs for the extra static servers
 * (`0` or `LOW-HIGH`). Returns {upstream, static, log(), clear(), stop()}.
 */
export async function startUpstream(statics = []) {
  const args = [path.join(browserDir, 'upstream.mjs')];
  for (const s of statics) args.push('--static', String(s));
  const child = track(spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
  const m = await waitForLine(child, /^(\{.*"upstream".*\})$/, 10_000, 'upstream');
  const ports = JSON.parse(m[1]);
  const base = `http://127.0.0.1:${ports.upstream}`;
  return {
    ...ports,
    pid: child.pid,
    /** Every request the upstream and the static servers received, oldest first. */
    async log() {
      const r = await fetch(`${base}/__log`, { signal: AbortSignal.timeout(5000) });
      return r.json();
    },
    async clear() {
      await fetch(`${base}/__log`, { method: 'DELETE', signal: AbortSignal.timeout(5000) });
    },
    stop: () => stopChild(child),
  };
}

/**
 * Starts `hardened serve` in front of the upstream with the config `yaml(port)` (a
 * function of the gateway's own port, so the config can name `http://host:PORT` origins).
 * Returns {port, configPath, output(), stop()}.
 */
export async function startGateway({ name, yaml, upstreamPort, env = {}, args = [] }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `hardened-browser-${name}-`));
  tempDirs.add(dir);
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const configPath = path.join(dir, 'config.yaml');
    fs.writeFileSync(configPath, yaml(port));
    const child = track(spawn(HARDENED_BIN, [
      'serve', '--config', configPath,
      '--listen', `127.0.0.1:${port}`,
      '--upstream', `http://127.0.0.1:${upstreamPort}`,
      ...args,
    ], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      // A clean environment: nothing from the caller's shell (SECURITY_DOMAINS, DEBUG,
      // ENVIRONMENT, ...) may change the policy under test.
      env: { PATH: process.env.PATH, HOME: dir, DOCKER: 'false', ...env },
    }));
    let stderr = '';
    try {
      await waitForLine(child, /listening on https?:\/\//, 15_000, `gateway ${name}`);
      child.stderr.on('data', (d) => { stderr += d; });
      return {
        port,
        configPath,
        pid: child.pid,
        output: () => stderr,
        stop: async () => {
          await stopChild(child);
          fs.rmSync(dir, { recursive: true, force: true });
          tempDirs.delete(dir);
        },
      };
    } catch (e) {
      lastError = e;
      await stopChild(child);
      if (!/in use|AddrInUse/i.test(String(e.message))) break;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
  throw lastError;
}

/** The Chromium flags of every run. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Test names resolve to loopback; nothing else is mapped.
  '--host-resolver-rules=MAP *.example.test 127.0.0.1, MAP evil.test 127.0.0.1, MAP partner.test 127.0.0.1',
];

/**
 * Headless Chromium (the system one; never a downloaded browser). `launch` gives every
 * run a fresh temporary profile (`--user-data-dir=<new temp dir>`, removed on close),
 * and every `browser.newContext()` is a separate cookie jar and HTTP cache. `extraArgs`
 * are added to CHROMIUM_ARGS.
 */
export async function launchBrowser(extraArgs = []) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install it with apt-get install -y chromium (scripts/browser.sh does)`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    timeout: 30_000,
  });
  browsers.add(browser);
  browser.on('disconnected', () => browsers.delete(browser));
  return browser;
}

/** Runs `fn(arg)` in the page and returns its result; bounded by `ms`. */
export async function inPage(page, fn, arg, ms = 10_000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`page script did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([page.evaluate(fn, arg), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A marker unique to one request, so the upstream log can be searched for it. */
export function marker(label) {
  return `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** `fetch(url, init)` from the page: {ok, status, body} or, when the browser blocks it, {error}. */
export async function pageFetch(page, url, init = {}) {
  return inPage(page, async ({ url, init }) => {
    try {
      const r = await fetch(url, init);
      const text = await r.text();
      let body = text;
      try { body = JSON.parse(text); } catch { /* not JSON */ }
      return { ok: r.ok, status: r.status, body };
    } catch (e) {
      return { error: String(e) };
    }
  }, { url, init });
}

export const SECRET_KEY = 'browser-tests-only-4f9c2a7e1b8d6053c1e9a7f2b4d8e6c0a3f5b7d9e1c3a5f7';

/** A fresh context (own cookie jar and HTTP cache) and page; closed after `fn`. */
export async function withPage(browser, fn) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.setDefaultNavigationTimeout(10_000);
    return await fn(page, context);
  } finally {
    await context.close();
  }
}

/** Opens `url` and fails unless the page loaded with status 200. */
export async function open(page, url) {
  const r = await page.goto(url, { waitUntil: 'load' });
  if (!r || r.status() !== 200) throw new Error(`navigation to ${url}: status ${r && r.status()}`);
  return r;
}

/**
 * Requests whose path contains `needle`, as received by `server`: 'upstream' (behind the
 * gateway) or 'static' (the pages of the other origins, which carry markers in their URLs).
 */
export async function seen(upstream, needle, server = 'upstream') {
  return (await upstream.log()).filter((e) => e.server === server && e.path.includes(needle));
}

/**
 * The cookies as Chromium stored them (CDP Network.getAllCookies). Unlike
 * `context.cookies()`, which reports an unspecified SameSite as "Lax", CDP leaves
 * `sameSite` undefined when the cookie carried none, so an explicit `SameSite=Lax`
 * is distinguishable from the browser default.
 */
export async function storedCookies(context, page) {
  const cdp = await context.newCDPSession(page);
  try {
    return (await cdp.send('Network.getAllCookies')).cookies;
  } finally {
    await cdp.detach();
  }
}

/** Parses Set-Cookie lines into {name: {value, attrs: {lowercased-name: value|true}}}. */
export function parseSetCookies(lines) {
  const out = {};
  for (const line of lines) {
    const [pair, ...attrs] = line.split(';').map((s) => s.trim());
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const parsed = {};
    for (const a of attrs) {
      if (!a) continue;
      const i = a.indexOf('=');
      if (i < 0) parsed[a.toLowerCase()] = true;
      else parsed[a.slice(0, i).toLowerCase()] = a.slice(i + 1);
    }
    out[name] = { value: pair.slice(eq + 1), attrs: parsed };
  }
  return out;
}

/** The Set-Cookie lines of a Playwright response, as the browser received them. */
export async function setCookieLines(response) {
  return (await response.headersArray())
    .filter((h) => h.name.toLowerCase() === 'set-cookie')
    .flatMap((h) => h.value.split('\n'));
}

/** Waits until `predicate()` is true, polling; false after `ms`. */
export async function eventually(predicate, ms = 3000, every = 100) {
  const end = Date.now() + ms;
  for (;;) {
    if (await predicate()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, every));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Frames `src` in the page and reports whether it loaded: Chromium replaces a frame
 * refused by X-Frame-Options with an error document (chrome-error://chromewebdata/).
 */
export async function frameLoads(page, src) {
  const name = marker('frame');
  await inPage(page, ({ src, name }) => new Promise((resolve) => {
    const f = document.createElement('iframe');
    f.name = name;
    f.src = src;
    f.onload = () => resolve();
    document.body.appendChild(f);
  }), { src, name });
  const element = await page.$(`iframe[name="${name}"]`);
  // The frame's final URL, once Playwright has caught up with it (an out-of-process
  // frame, such as a cross-origin or error document, may lag the load event).
  let url = '';
  await eventually(async () => {
    const frame = await element.contentFrame();
    url = frame ? frame.url() : '';
    return url !== '' && url !== 'about:blank';
  }, 5000, 50);
  if (url === '' || url === 'about:blank') throw new Error(`frame of ${src} never committed a document`);
  return !url.startsWith('chrome-error:');
}

/** The Python of the pinned Django venv: `$HARDENED_VENV`, else `<repo>/.venv`. */
export function venvPython() {
  const venv = process.env.HARDENED_VENV || path.join(repoRoot, '.venv');
  const python = path.join(venv, 'bin', 'python');
  if (!fs.existsSync(python)) {
    throw new Error(`${python} not found: build the Django venv with scripts/django-venv.sh (or set HARDENED_VENV)`);
  }
  return python;
}

/** Resolves once 127.0.0.1:`port` accepts a connection; rejects after `ms` or on exit. */
async function waitListening(child, port, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited before it listened`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() >= end) throw new Error(`${what}: not listening on ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * gunicorn (one worker, from the Django venv) serving `module:application` of
 * browser/django_app on 127.0.0.1. Returns {port, output(), stop()}.
 */
export async function startDjango(module) {
  const python = venvPython();
  const port = await freePort();
  const child = track(spawn(python, [
    '-m', 'gunicorn', '--workers', '1', '--bind', `127.0.0.1:${port}`,
    '--chdir', path.join(browserDir, 'django_app'), `${module}:application`,
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, PYTHONDONTWRITEBYTECODE: '1' } }));
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  try {
    await waitListening(child, port, 20_000, 'gunicorn');
  } catch (e) {
    await stopChild(child);
    throw new Error(`${e.message}\n${output}`);
  }
  return { port, pid: child.pid, output: () => output, stop: () => stopChild(child) };
}

/**
 * A self-signed certificate for `localhost` and 127.0.0.1, made by `openssl` in a fresh
 * temporary directory (removed by `remove()`, or on exit). Chromium trusts it through
 * `--ignore-certificate-errors`. Returns {cert, key, remove()}.
 */
export function makeCertificate() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hardened-browser-tls-'));
  tempDirs.add(dir);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
  ], { stdio: 'ignore', timeout: 20_000 });
  return {
    cert: path.join(dir, 'cert.pem'),
    key: path.join(dir, 'key.pem'),
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
  };
}

/**
 * A TLS gateway (certificate `tls`, from makeCertificate) in production whose one
 * security domain is `https://localhost:PORT`, with the config lines `extra`, logging
 * JSON and every request (what `hardened reports` reads). Returns what startGateway does.
 */
export function startTlsGateway({ name, tls, upstreamPort, extra, args = [] }) {
  return startGateway({
    name,
    upstreamPort,
    args: ['--log-format', 'json', '--access-log', ...args],
    yaml: (port) => [
      'environment: production',
      'role: gateway',
      `security_domains: ["https://localhost:${port}"]`,
      'gateway:',
      `  tls: {cert: ${tls.cert}, key: ${tls.key}}`,
      extra,
    ].join('\n') + '\n',
  });
}

/** The JSON lines a gateway (`--log-format json`) logged so far. */
export function jsonLines(g) {
  return g.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

/**
 * Runs `hardened reports --config CONFIG LOG [args]` over a gateway's log so far.
 * Returns {status, stdout, stderr}.
 */
export function reportsVerdict(g, args = []) {
  const log = path.join(path.dirname(g.configPath), 'gateway.log');
  fs.writeFileSync(log, g.output());
  const r = spawnSync(HARDENED_BIN, ['reports', '--config', g.configPath, log, ...args], {
    encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH, DOCKER: 'false' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
