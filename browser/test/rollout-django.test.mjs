// A strict CSP rolled out in front of a Django app, from report-only to enforcing, with
// the gateway's violation-report collector telling when it is safe.
//
// The Django page (gunicorn, browser/django_app/nonce_app.py) puts the gateway's
// per-response nonce on its inline script. Its `/legacy` variant also carries an old
// inline snippet without the nonce.
//   1. report-only, `/legacy`: Chromium runs the snippet, reports it, the collector logs
//      it and `hardened reports` says not ready, naming the directive;
//   2. report-only, the page fixed (`/`), fresh gateway and log: `hardened reports` says
//      ready;
//   3. the same policy enforcing, new gateway: the nonced script runs, a script injected
//      into the page does not (nor the legacy snippet).
//
// TLS and `--short-reporting-delay` as in reports.test.mjs (Chromium reports to
// `report-to` endpoints only over https).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  eventually, inPage, jsonLines, launchBrowser, makeCertificate, open, reportsVerdict,
  startDjango, startTlsGateway, withPage,
} from '../lib/harness.mjs';

const CSP = "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic'; object-src 'none'; base-uri 'none'";
const COLLECTOR = '/.well-known/hardened/reports';

let django;
let browser;
let tls;
const gateways = [];

before(async () => {
  tls = makeCertificate();
  django = await startDjango('nonce_app');
  browser = await launchBrowser(['--ignore-certificate-errors', '--short-reporting-delay']);
});

after(async () => {
  await browser?.close();
  for (const g of gateways) await g.stop();
  await django?.stop();
  tls?.remove();
});

/**
 * A TLS gateway in production in front of the Django app, with the strict CSP under
 * `header` (`content_security_policy_report_only` or `content_security_policy`) and the
 * collector on.
 */
async function gateway(name, header) {
  const extra = `headers:\n  ${header}: "${CSP}"\nreports: true`;
  const g = await startTlsGateway({ name, tls, upstreamPort: django.port, extra });
  gateways.push(g);
  return g;
}

/** The collector's lines in a gateway's log. */
const reportLines = (g) => jsonLines(g).filter((l) => l.target === 'hardened::reports');

const SCRIPT_DIRECTIVE = /^script-src(-elem)?$/;

/**
 * Opens `path` on gateway `g` and returns the response's CSP headers, the nonce in the
 * one named `header`, and what ran in the page: the nonced inline script (`inline`),
 * the legacy snippet (`legacy`), an injected script (`injected`), the nonces on the
 * page's scripts and the `securitypolicyviolation` events Chromium fired in it.
 */
async function visit(page, g, path, header) {
  const r = await open(page, `https://localhost:${g.port}${path}`);
  const headers = r.headers();
  const m = /'nonce-([A-Za-z0-9_-]+)'/.exec(headers[header] || '');
  assert.ok(m, `no nonce in ${header}: ${JSON.stringify(headers)}`);
  const state = await inPage(page, () => ({
    inline: document.body.dataset.inline || null,
    legacy: document.body.dataset.legacy || null,
    injected: document.body.dataset.injected || null,
    nonces: [...document.scripts].map((s) => s.nonce),
    injectedScripts: document.querySelectorAll('#comment script').length,
    violations: window.violations,
  }));
  return { headers, nonce: m[1], state };
}

/** Records the page's CSP violation events (before any of its own scripts runs). */
async function recordViolations(page) {
  await page.addInitScript(() => {
    window.violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, disposition: e.disposition });
    });
  });
}

describe('CSP rollout in front of Django', () => {
  test('1. report-only: the legacy inline script runs, is reported, and the verdict is not ready', async () => {
    const g = await gateway('rollout-legacy', 'content_security_policy_report_only');
    await withPage(browser, async (page) => {
      await recordViolations(page);
      const v = await visit(page, g, '/legacy', 'content-security-policy-report-only');
      assert.equal(v.headers['content-security-policy-report-only'],
        `${CSP.replace('{nonce}', v.nonce)}; report-uri ${COLLECTOR}; report-to hardened`);
      assert.equal(v.headers['content-security-policy'], undefined, 'nothing enforced yet');
      assert.equal(v.state.inline, 'ran');
      assert.equal(v.state.nonces[0], v.nonce, 'the page got the nonce of its own CSP');
      assert.equal(v.state.legacy, 'ran', 'report-only blocks nothing');
      assert.ok(v.state.violations.some((e) => SCRIPT_DIRECTIVE.test(e.directive) && e.disposition === 'report'),
        `Chromium saw the legacy script break the policy: ${JSON.stringify(v.state.violations)}`);
      const heard = await eventually(() => reportLines(g).some((l) => SCRIPT_DIRECTIVE.test(l.directive)),
        15_000, 100);
      assert.ok(heard, `the collector logged the violation:\n${g.output()}`);
    });
    for (const l of reportLines(g)) {
      assert.equal(l.document, '/legacy');
      assert.equal(l.disposition, 'report');
      assert.equal(l.blocked, 'inline');
      assert.match(l.directive, SCRIPT_DIRECTIVE);
    }

    const human = reportsVerdict(g);
    assert.equal(human.status, 1, human.stdout + human.stderr);
    assert.match(human.stdout, /CSP report-only: 1 directive still fires → not ready/);
    assert.match(human.stdout, /script-src(-elem)?: inline \(\d+\)/);
    const json = reportsVerdict(g, ['--format', 'json']);
    assert.equal(json.status, 1, json.stdout + json.stderr);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.verdicts.length, 1, json.stdout);
    const [verdict] = doc.verdicts;
    assert.equal(verdict.policy, 'CSP report-only');
    assert.equal(verdict.ready, false);
    assert.equal(verdict.firing.length, 1, json.stdout);
    assert.match(verdict.firing[0].item, SCRIPT_DIRECTIVE);
    assert.deepEqual(verdict.firing[0].sources.map((s) => s.source), ['inline']);
  });

  test('2. report-only, the page fixed: several loads, no violation, the verdict is ready', async () => {
    const g = await gateway('rollout-fixed', 'content_security_policy_report_only');
    const loads = 4;
    await withPage(browser, async (page) => {
      await recordViolations(page);
      const nonces = new Set();
      for (let i = 0; i < loads; i++) {
        const v = await visit(page, g, '/', 'content-security-policy-report-only');
        assert.equal(v.state.inline, 'ran');
        assert.equal(v.state.legacy, null);
        assert.equal(v.state.nonces.length, 1, 'only the nonced script is left');
        assert.equal(v.state.nonces[0], v.nonce);
        assert.deepEqual(v.state.violations, [], 'Chromium saw nothing to report');
        nonces.add(v.nonce);
      }
      assert.equal(nonces.size, loads, 'a fresh nonce per response');
    });
    assert.deepEqual(reportLines(g), [], g.output());

    const human = reportsVerdict(g);
    assert.equal(human.status, 0, human.stdout + human.stderr);
    assert.match(human.stdout, /CSP report-only: 0 violations in \d+ pages over \d+ seconds? → ready/);
    const json = reportsVerdict(g, ['--format', 'json']);
    assert.equal(json.status, 0, json.stdout + json.stderr);
    const doc = JSON.parse(json.stdout);
    assert.ok(doc.pages >= loads, `every load counted as a page: ${json.stdout}`);
    assert.deepEqual(doc.findings, []);
    assert.deepEqual(doc.verdicts.map((v) => [v.policy, v.ready]), [['CSP report-only', true]]);
  });

  test('3. enforcing: the nonced script runs, an injected one and the legacy snippet do not', async () => {
    const g = await gateway('rollout-enforce', 'content_security_policy');
    const injected = encodeURIComponent('<script>document.body.dataset.injected = "ran"</script>');
    await withPage(browser, async (page) => {
      await recordViolations(page);
      const v = await visit(page, g, `/?comment=${injected}`, 'content-security-policy');
      assert.equal(v.headers['content-security-policy'],
        `${CSP.replace('{nonce}', v.nonce)}; report-uri ${COLLECTOR}; report-to hardened`);
      assert.equal(v.headers['content-security-policy-report-only'], undefined);
      assert.equal(v.state.inline, 'ran', 'the nonced inline script runs');
      assert.equal(v.state.nonces[0], v.nonce);
      assert.equal(v.state.injectedScripts, 1, 'the injection is in the page');
      assert.equal(v.state.injected, null, 'the injected script is blocked');
      assert.ok(v.state.violations.some((e) => SCRIPT_DIRECTIVE.test(e.directive) && e.disposition === 'enforce'),
        JSON.stringify(v.state.violations));

      const legacy = await visit(page, g, '/legacy', 'content-security-policy');
      assert.equal(legacy.state.inline, 'ran');
      assert.equal(legacy.state.legacy, null, 'the legacy snippet is blocked once enforced');
      const heard = await eventually(() => reportLines(g).some((l) => l.document === '/legacy'), 15_000, 100);
      assert.ok(heard, `the collector logged the blocked snippet:\n${g.output()}`);
    });
    for (const l of reportLines(g)) {
      assert.equal(l.disposition, 'enforce');
      assert.match(l.directive, SCRIPT_DIRECTIVE);
    }
  });
});
