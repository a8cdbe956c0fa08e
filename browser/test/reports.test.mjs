// Violation reports in a real browser: Chromium's own uploads (both formats) captured as
// test data, and a strict CSP rolled out in report-only mode in front of an upstream,
// with the gateway's collector receiving what Chromium reports and `hardened reports`
// saying whether the policy is ready to enforce.
//
// The Reporting API (`report-to`, `Reporting-Endpoints`) only reports from secure
// contexts and Chromium only honours its endpoints over https, so these gateways serve
// TLS with a certificate made here by `openssl` (trusted through
// --ignore-certificate-errors). `--short-reporting-delay` makes Chromium send its queued
// reports within a second instead of a minute.
//
// With CAPTURE_REPORTS=1, the uploads of case 1 are written to
// crates/hardened/tests/data/reports/ (the parser's corpus).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  browserDir, eventually, freePort, jsonLines as lines, launchBrowser, makeCertificate, open,
  reportsVerdict, startGateway, startTlsGateway, startUpstream, withPage,
} from '../lib/harness.mjs';

let upstream;
let browser;
let tls;
const gateways = [];

const STRICT = "default-src 'self'";

before(async () => {
  tls = makeCertificate();
  upstream = await startUpstream();
  browser = await launchBrowser(['--ignore-certificate-errors', '--short-reporting-delay']);
});

after(async () => {
  await browser?.close();
  for (const g of gateways) await g.stop();
  await upstream?.stop();
  tls?.remove();
});

/** A TLS gateway in production with `extra` YAML, logging JSON and every request. */
async function gateway(name, extra, args = []) {
  const g = await startTlsGateway({ name, tls, upstreamPort: upstream.upstream, extra, args });
  gateways.push(g);
  return g;
}

/** The uploads the upstream captured at /__reports. */
async function captured() {
  return (await fetch(`http://127.0.0.1:${upstream.upstream}/__reports`)).json();
}

/** The (format, directive) pairs of case 1 that `uploads` lack. */
function missing(uploads) {
  const kinds = new Set();
  for (const u of uploads) {
    const body = JSON.parse(u.body);
    if (u.contentType.startsWith('application/csp-report')) {
      kinds.add(`legacy ${body['csp-report']['effective-directive']}`);
    } else {
      for (const r of body) kinds.add(`${r.type} ${r.body.effectiveDirective}`);
    }
  }
  return ['legacy img-src', 'legacy script-src-elem', 'csp-violation img-src', 'csp-violation script-src-elem']
    .filter((k) => !kinds.has(k));
}

/** An image from another origin: `img-src 'self'` forbids it. */
const foreignImage = () => encodeURIComponent(`https://127.0.0.1:${upstream.upstream}/pixel.png`);

describe('violation reports', () => {
  test('1. Chromium sends csp-report and reports+json uploads, and the collector parses them', async () => {
    const g = await gateway('capture', 'csrf_exempt_paths: [/__reports]');
    const base = `https://localhost:${g.port}`;
    await withPage(browser, async (page) => {
      const legacy = encodeURIComponent(`${STRICT}; report-uri /__reports`);
      await open(page, `${base}/violate?img=${foreignImage()}&csp=${legacy}`);
      const modern = encodeURIComponent(`${STRICT}; report-to capture`);
      const endpoints = encodeURIComponent('capture="/__reports"');
      await open(page, `${base}/violate?img=${foreignImage()}&csp=${modern}&endpoints=${endpoints}`);
      const got = await eventually(async () => missing(await captured()).length === 0, 15_000, 200);
      assert.ok(got, `Chromium sent both kinds of upload; missing: ${missing(await captured())}`);
    });
    const uploads = await captured();
    if (process.env.CAPTURE_REPORTS) {
      const dir = path.resolve(browserDir, '..', 'crates/hardened/tests/data/reports');
      fs.mkdirSync(dir, { recursive: true });
      uploads.forEach((u, i) => {
        const suffix = u.contentType.startsWith('application/csp-report') ? 'csp-report' : 'reports';
        fs.writeFileSync(path.join(dir, `chromium-${i + 1}.${suffix}.json`), u.body);
      });
    }
    // The collector accepts exactly what Chromium sent, posted from its own page.
    const c = await gateway('collector', 'reports: true');
    await withPage(browser, async (page) => {
      await open(page, `https://localhost:${c.port}/clean`);
      const statuses = await page.evaluate(async (uploads) => Promise.all(uploads.map(async (u) => {
        const r = await fetch('/.well-known/hardened/reports', {
          method: 'POST', headers: { 'content-type': u.contentType }, body: u.body,
        });
        return r.status;
      })), uploads);
      assert.deepEqual(statuses, uploads.map(() => 204));
    });
    const logged = lines(c).filter((l) => l.target === 'hardened::reports').map((l) => l.directive);
    assert.ok(logged.includes('img-src') && logged.includes('script-src-elem'), c.output());
  });

  test('2. a strict CSP in report-only: the collector hears Chromium, `hardened reports` says not ready, then ready', async () => {
    const admin = await freePort();
    const config = `headers:\n  content_security_policy_report_only: "${STRICT}"\nreports: true`;
    const g = await gateway('rollout', config, ['--admin-listen', `127.0.0.1:${admin}`]);
    const base = `https://localhost:${g.port}`;
    await withPage(browser, async (page) => {
      const r = await open(page, `${base}/violate?img=${foreignImage()}`);
      const headers = r.headers();
      assert.equal(headers['content-security-policy-report-only'],
        `${STRICT}; report-uri /.well-known/hardened/reports; report-to hardened`);
      assert.equal(headers['reporting-endpoints'], 'hardened="/.well-known/hardened/reports"');
      // Report-only: nothing is blocked yet.
      assert.equal(await page.evaluate(() => window.inlineRan), true);
      for (let i = 0; i < 3; i++) await open(page, `${base}/clean`);
      const heard = await eventually(() => {
        const d = lines(g).filter((l) => l.target === 'hardened::reports').map((l) => l.directive);
        return d.includes('img-src') && d.includes('script-src-elem');
      }, 15_000, 200);
      assert.ok(heard, `the collector logged both violations:\n${g.output()}`);
    });
    const reportLines = lines(g).filter((l) => l.target === 'hardened::reports');
    for (const l of reportLines) {
      assert.equal(l.document, '/violate', 'the path only, never the query');
      assert.equal(l.disposition, 'report');
    }
    const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    assert.match(metrics, /hardened_reports_total\{type="csp",directive="img-src"\} [1-9]/);
    assert.match(metrics, /hardened_reports_total\{type="csp",directive="script-src-elem"\} [1-9]/);
    assert.match(metrics, /hardened_reports_rejected_total\{reason="malformed"\} 0/);

    const verdict = reportsVerdict(g);
    assert.equal(verdict.status, 1, verdict.stdout + verdict.stderr);
    assert.match(verdict.stdout, /CSP report-only: 2 directives still fire → not ready/);
    assert.match(verdict.stdout, /img-src: https:\/\/127\.0\.0\.1:\d+ \(\d+\)/);
    assert.match(verdict.stdout, /script-src-elem: inline \(\d+\)/);

    // The pages fixed (only pages that keep to the policy): no violation, ready.
    const fixed = await gateway('fixed', config);
    await withPage(browser, async (page) => {
      for (let i = 0; i < 4; i++) await open(page, `https://localhost:${fixed.port}/clean`);
    });
    const ready = reportsVerdict(fixed);
    assert.equal(ready.status, 0, ready.stdout + ready.stderr);
    assert.match(ready.stdout, /CSP report-only: 0 violations in [45] pages over \d+ seconds? → ready/);
  });

  test('3. in development over plain http, Chromium reports through report-uri alone', async () => {
    const g = await startGateway({
      name: 'reports-dev',
      upstreamPort: upstream.upstream,
      args: ['--log-format', 'json'],
      yaml: () => `environment: development\nheaders:\n  content_security_policy_report_only: "${STRICT}"\nreports: true\n`,
    });
    gateways.push(g);
    await withPage(browser, async (page) => {
      const r = await open(page, `http://localhost:${g.port}/violate?img=${foreignImage()}`);
      assert.equal(r.headers()['content-security-policy-report-only'],
        `${STRICT}; report-uri /.well-known/hardened/reports`);
      assert.equal(r.headers()['reporting-endpoints'], undefined);
      const heard = await eventually(() => {
        const d = lines(g).filter((l) => l.target === 'hardened::reports').map((l) => l.directive);
        return d.includes('img-src') && d.includes('script-src-elem');
      }, 15_000, 200);
      assert.ok(heard, `the collector logged both violations:\n${g.output()}`);
    });
  });
});
