// Fetch Metadata (`fetch_metadata: enforce | report`) in a real browser: what Chromium
// sends as Sec-Fetch-Site/Mode/Dest for same-origin, same-site and cross-site requests,
// navigations, no-cors image loads and form posts, and what the gateway does with them.
//
// Origins (all resolve to 127.0.0.1 through --host-resolver-rules):
//   http://app.example.test:GW, http://api.example.test:GW   behind the gateway (same site)
//   http://evil.test:STATIC                                    a foreign site
//   http://partner.test:PARTNER                                another site whose origin the
//                                                              policy lists (a frontend elsewhere)
//
// Chromium sends Sec-Fetch-* only to potentially trustworthy URLs, so these plain-http
// origins are declared secure with --unsafely-treat-insecure-origin-as-secure (as https
// would make them). Case 0 proves the headers arrive, so no other case can pass because
// the browser sent nothing.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SECRET_KEY, eventually, inPage, launchBrowser, marker, open, pageFetch, seen, startGateway, startUpstream,
  withPage,
} from '../lib/harness.mjs';

let upstream;
let browser;
let STATIC;
let PARTNER;
const gws = {};

const yaml = (mode) => (port) => `environment: production
debug: false
secret_key: "${SECRET_KEY}"
fetch_metadata: ${mode}
security_domains:
  - app.example.test
  - http://app.example.test:${port}
  - http://api.example.test:${port}
  - http://partner.test:${PARTNER}
`;

const app = (mode) => `http://app.example.test:${gws[mode].port}`;
const api = (mode) => `http://api.example.test:${gws[mode].port}`;
const evil = () => `http://evil.test:${STATIC}`;
const partner = () => `http://partner.test:${PARTNER}`;

before(async () => {
  upstream = await startUpstream(['0', '0']);
  [STATIC, PARTNER] = upstream.static;
  for (const mode of ['enforce', 'report']) {
    gws[mode] = await startGateway({ name: `fetch-metadata-${mode}`, upstreamPort: upstream.upstream, yaml: yaml(mode) });
  }
  const secure = [evil(), partner(), ...['enforce', 'report'].flatMap((m) => [app(m), api(m)])];
  browser = await launchBrowser([`--unsafely-treat-insecure-origin-as-secure=${secure.join(',')}`]);
});

after(async () => {
  await browser?.close();
  for (const gw of Object.values(gws)) await gw?.stop();
  await upstream?.stop();
});

/** Loads `src` as an image from the page; resolves once the browser gave up or loaded. */
function loadImage(page, src) {
  return inPage(page, (src) => new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve('load');
    img.onerror = () => resolve('error');
    img.src = src;
  }), src);
}

/**
 * Whether the gateway of `mode` logged a fetch-metadata line for the path marker `m`:
 * `report-only: request would be rejected` (report) or `request rejected` (enforce).
 */
function logged(mode, m, what) {
  return eventually(() => gws[mode].output().split('\n')
    .some((l) => l.includes('fetch-metadata-cross-site') && l.includes(what) && l.includes(m)), 5000);
}

for (const mode of ['enforce', 'report']) {
  describe(`fetch_metadata: ${mode}`, () => {
    test('0. same-origin fetch passes, and Chromium sends Sec-Fetch-Site: same-origin', async () => {
      await withPage(browser, async (page) => {
        await open(page, `${app(mode)}/`);
        const m = marker('fm0');
        const r = await pageFetch(page, `${app(mode)}/api/data?m=${m}`, { credentials: 'include' });
        assert.equal(r.status, 200, JSON.stringify(r));
        const [e] = await seen(upstream, m);
        assert.equal(e.headers['sec-fetch-site'], 'same-origin', JSON.stringify(e.headers));
        assert.equal(e.headers['sec-fetch-mode'], 'cors');
      });
    });

    test('1. same-site: a CORS read and a no-cors image from api. pass', async () => {
      await withPage(browser, async (page) => {
        await open(page, `${app(mode)}/`);
        const m = marker('fm1');
        const r = await pageFetch(page, `${api(mode)}/api/data?m=${m}`, { credentials: 'include' });
        assert.equal(r.status, 200, JSON.stringify(r));
        // Chromium's opaque response blocking hides the JSON from the image; the upstream
        // log shows the load went through.
        await loadImage(page, `${api(mode)}/api/img?m=${m}-img`);
        const hits = await seen(upstream, m);
        assert.equal(hits.length, 2);
        assert.ok(hits.every((e) => e.headers['sec-fetch-site'] === 'same-site'), JSON.stringify(hits.map((e) => e.headers)));
      });
    });

    test('2. cross-site navigation (a link followed from another site) passes', async () => {
      await withPage(browser, async (page) => {
        await open(page, `${evil()}/`);
        const m = marker('fm2');
        const target = `${app(mode)}/?m=${m}`;
        await inPage(page, (t) => { const a = document.createElement('a'); a.href = t; a.textContent = 'go'; document.body.appendChild(a); }, target);
        const [nav] = await Promise.all([page.waitForNavigation({ url: target }), page.click('a')]);
        assert.equal(nav.status(), 200);
        const [e] = await seen(upstream, m);
        assert.equal(e.headers['sec-fetch-site'], 'cross-site');
        assert.equal(e.headers['sec-fetch-mode'], 'navigate');
        assert.equal(e.headers['sec-fetch-dest'], 'document');
      });
    });

    test('3. cross-site no-cors image load and no-cors fetch', async () => {
      await withPage(browser, async (page) => {
        await open(page, `${evil()}/`);
        const m = marker('fm3');
        // The marker in the path: the report-only log line names the path, not the query.
        assert.equal(await loadImage(page, `${app(mode)}/api/${m}-img`), 'error');
        const f = await pageFetch(page, `${app(mode)}/api/${m}-fetch`, { mode: 'no-cors', credentials: 'include' });
        assert.equal(f.error, undefined, 'an opaque no-cors answer, whatever the status');
        const hits = await seen(upstream, m);
        // No status to read (an opaque answer, and opaque response blocking for the
        // image): the two gateways differ in `fetch_metadata` only, and the upstream log
        // and the report-only line show which check acted.
        if (mode === 'enforce') {
          assert.ok(await logged(mode, `${m}-img`, 'request rejected'), gws[mode].output());
          assert.ok(await logged(mode, `${m}-fetch`, 'request rejected'), gws[mode].output());
          assert.deepEqual(hits, [], 'neither load reached the upstream');
        } else {
          assert.equal(hits.length, 2, 'report mode lets both through');
          assert.deepEqual(hits.map((e) => e.headers['sec-fetch-dest']).sort(), ['empty', 'image']);
          assert.ok(await logged(mode, `${m}-img`, 'report-only'), gws[mode].output());
          assert.ok(await logged(mode, `${m}-fetch`, 'report-only'), gws[mode].output());
        }
      });
    });

    test('4. a form posted from another site', async () => {
      await withPage(browser, async (page) => {
        const m = marker('fm4');
        const action = `${app(mode)}/api/transfer?m=${m}`;
        const answered = page.waitForResponse((r) => r.url() === action && r.request().method() === 'POST');
        await page.goto(`${evil()}/form?action=${encodeURIComponent(action)}`);
        const r = await answered;
        assert.equal(r.status(), 403);
        // Enforced, the resource isolation policy refuses it first; reported, CSRF does.
        assert.match(await r.text(), mode === 'enforce' ? /resource isolation policy/ : /Origin checking failed/);
        assert.deepEqual(await seen(upstream, m), [], 'the upstream never saw the forged POST');
      });
    });

    test('4. control: the same form posted from the site itself passes', async () => {
      await withPage(browser, async (page) => {
        const m = marker('fm4-same');
        const action = `${app(mode)}/api/transfer?m=${m}`;
        const answered = page.waitForResponse((r) => r.url() === action && r.request().method() === 'POST');
        await page.goto(`${app(mode)}/form?action=${encodeURIComponent(action)}`);
        assert.equal((await answered).status(), 200);
        const [e] = await seen(upstream, m);
        // A form a page submits while it loads goes out as `none` (Chromium counts the
        // load it interrupts as the user's); a click would say `same-origin`.
        assert.ok(['same-origin', 'none'].includes(e.headers['sec-fetch-site']), JSON.stringify(e.headers));
      });
    });

    test('5. a frontend on another site whose origin the policy lists keeps working', async () => {
      await withPage(browser, async (page) => {
        await open(page, `${partner()}/`);
        const m = marker('fm5');
        const get = await pageFetch(page, `${app(mode)}/api/data?m=${m}`, { credentials: 'include' });
        assert.equal(get.status, 200, JSON.stringify(get));
        assert.equal(get.body.origin, partner());
        const post = await pageFetch(page, `${app(mode)}/api/echo?m=${m}`, {
          method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: '{}',
        });
        assert.equal(post.status, 200, JSON.stringify(post));
        const hits = await seen(upstream, m);
        assert.equal(hits.length, 2);
        assert.ok(hits.every((e) => e.headers['sec-fetch-site'] === 'cross-site'));
      });
    });
  });
}
