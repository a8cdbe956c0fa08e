// The CSP nonce for an application behind the gateway, in a real browser: a Django
// page (gunicorn, browser/django_app/nonce_app.py) puts the nonce the gateway passes in
// `X-CSP-Nonce` on its inline script; the gateway adds a strict CSP with the same
// nonce. Chromium runs that script, and refuses one injected into the page (an XSS in
// the `comment` parameter), with or without a nonce of the attacker's choosing — also
// when the client sends its own `X-CSP-Nonce`.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SECRET_KEY, inPage, launchBrowser, startDjango, startGateway, withPage } from '../lib/harness.mjs';

const CSP = "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic'; object-src 'none'; base-uri 'none'";

let django;
let gw;
let browser;

before(async () => {
  django = await startDjango('nonce_app');
  gw = await startGateway({
    name: 'csp-nonce',
    upstreamPort: django.port,
    yaml: (port) => `environment: production
debug: false
secret_key: "${SECRET_KEY}"
security_domains:
  - app.example.test
  - http://app.example.test:${port}
headers:
  content_security_policy: "${CSP}"
`,
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gw?.stop();
  await django?.stop();
});

const INJECTED = [
  '<script>document.body.dataset.injected = "plain"</script>',
  '<script nonce="attacker">document.body.dataset.injected = "forged-nonce"</script>',
  '<img src="x" onerror="document.body.dataset.injected = \'handler\'">',
].join('');

/** Opens the page (with `comment`) and reports what ran, the CSP nonce and violations. */
async function visit(page, extraHeaders = {}) {
  await page.setExtraHTTPHeaders(extraHeaders);
  const violations = [];
  page.on('console', (msg) => {
    if (/Content Security Policy/.test(msg.text())) violations.push(msg.text());
  });
  const url = `http://app.example.test:${gw.port}/?comment=${encodeURIComponent(INJECTED)}`;
  const r = await page.goto(url, { waitUntil: 'load' });
  assert.equal(r.status(), 200, await r.text());
  const csp = (await r.allHeaders())['content-security-policy'];
  const m = /'nonce-([A-Za-z0-9_-]+)'/.exec(csp || '');
  assert.ok(m, `no nonce in the CSP: ${csp}`);
  // Once the injected image has failed: its inline `onerror` handler, had the CSP let
  // it, ran before the listener added here.
  const state = await inPage(page, async () => {
    const img = document.querySelector('#comment img');
    if (!img.complete) {
      await new Promise((resolve) => {
        img.addEventListener('error', resolve, { once: true });
        img.addEventListener('load', resolve, { once: true });
      });
    }
    return {
      inline: document.body.dataset.inline || null,
      injected: document.body.dataset.injected || null,
      nonces: [...document.scripts].map((s) => s.nonce),
      injectedScripts: document.querySelectorAll('#comment script').length,
      injectedHandler: document.querySelector('#comment img').hasAttribute('onerror'),
    };
  });
  return { csp, nonce: m[1], state, violations };
}

test('the inline script carrying the gateway nonce runs under the strict CSP; an injected one does not', async () => {
  await withPage(browser, async (page) => {
    const first = await visit(page);
    assert.equal(first.state.inline, 'ran', 'the nonced inline script must run');
    assert.equal(first.state.injected, null, 'an injected script must not run');
    // The injection really is in the page (the test cannot pass because it was dropped).
    assert.equal(first.state.injectedScripts, 2);
    assert.ok(first.state.injectedHandler);
    // The nonce the page used is the one of this response's CSP.
    assert.equal(first.state.nonces[0], first.nonce);
    assert.ok(first.violations.length >= 2, `Chromium reported no CSP violation: ${first.violations}`);
    // A fresh nonce per response.
    const second = await visit(page);
    assert.notEqual(second.nonce, first.nonce);
    assert.equal(second.state.inline, 'ran');
  });
});

test("a client's own X-CSP-Nonce never reaches the page", async () => {
  await withPage(browser, async (page) => {
    const v = await visit(page, { 'X-CSP-Nonce': 'attacker' });
    assert.equal(v.state.inline, 'ran', 'the page got the gateway nonce, not the client one');
    assert.equal(v.state.nonces[0], v.nonce);
    assert.notEqual(v.nonce, 'attacker');
    assert.equal(v.state.injected, null, 'the forged nonce opens nothing');
  });
});
