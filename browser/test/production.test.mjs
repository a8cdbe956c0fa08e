// Production policy in a real browser: CORS, CSRF, cookies, preflight caching and
// `Vary: origin`, as headless Chromium experiences them through `hardened serve`.
//
// Origins (all resolve to 127.0.0.1 through --host-resolver-rules):
//   http://app.example.test:GW, http://api.example.test:GW, http://www.example.test:GW
//       pages and APIs behind the gateway; listed in security_domains
//   http://evil.test:STATIC
//       a foreign site on a plain static server, not behind the gateway
//   http://localhost:GW
//       the gateway again; Chromium treats http://localhost as a secure context (cookies)
//
// The tests run over plain http, so the config lists `http://host:PORT` origins
// explicitly; the bare names (`app.example.test`) derive https origins as in a real
// deployment and stay in the list to show both coexist.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SECRET_KEY, frameLoads, launchBrowser, marker, open, pageFetch, parseSetCookies, seen, setCookieLines,
  sleep, startGateway, startUpstream, storedCookies, withPage,
} from '../lib/harness.mjs';

const productionYaml = (extra = '') => (port) => `environment: production
debug: false
secret_key: "${SECRET_KEY}"
security_domains:
  - app.example.test
  - api.example.test
  - http://app.example.test:${port}
  - http://api.example.test:${port}
  - http://www.example.test:${port}
  - http://localhost:${port}
${extra}`;

let upstream;
let gw;
let gwNoCache;
let browser;
let STATIC;

const app = () => `http://app.example.test:${gw.port}`;
const api = () => `http://api.example.test:${gw.port}`;
const www = () => `http://www.example.test:${gw.port}`;
const evil = () => `http://evil.test:${STATIC}`;

const jsonPost = (body) => ({
  method: 'POST',
  credentials: 'include',
  headers: { 'content-type': 'application/json' }, // not CORS-safelisted: preflighted
  body: JSON.stringify(body),
});

before(async () => {
  upstream = await startUpstream(['0']);
  [STATIC] = upstream.static;
  gw = await startGateway({ name: 'production', upstreamPort: upstream.upstream, yaml: productionYaml() });
  gwNoCache = await startGateway({
    name: 'production-max-age-0',
    upstreamPort: upstream.upstream,
    yaml: productionYaml('cors_preflight_max_age: 0\n'),
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gwNoCache?.stop();
  await gw?.stop();
  await upstream?.stop();
});

describe('production: CORS', () => {
  test('1. an allowed origin reads a credentialed GET and a preflighted JSON POST', async () => {
    await withPage(browser, async (page) => {
      await open(page, `${app()}/`);
      const m = marker('c1');

      const get = await pageFetch(page, `${api()}/api/data?m=${m}`, { credentials: 'include' });
      assert.equal(get.error, undefined, `GET blocked: ${get.error}`);
      assert.equal(get.status, 200);
      assert.equal(get.body.method, 'GET');
      assert.equal(get.body.origin, app());

      const post = await pageFetch(page, `${api()}/api/echo?m=${m}`, jsonPost({ hello: 'api' }));
      assert.equal(post.error, undefined, `POST blocked: ${post.error}`);
      assert.equal(post.status, 200);
      assert.equal(post.body.method, 'POST');
      assert.deepEqual(JSON.parse(post.body.body), { hello: 'api' });

      const posts = (await seen(upstream, m)).filter((e) => e.method === 'POST');
      assert.equal(posts.length, 1, 'the upstream received the POST once');
      assert.equal(posts[0].headers.origin, app());
    });
  });

  test('2. a foreign origin cannot read, and its preflighted POST never reaches the upstream', async () => {
    await withPage(browser, async (page) => {
      await open(page, `${evil()}/`);
      const m = marker('c2');

      const get = await pageFetch(page, `${api()}/api/data?m=${m}`, { credentials: 'include' });
      assert.match(String(get.error), /TypeError/, 'the browser must refuse the foreign read');
      // A simple GET is sent (CORS guards the read, not the send): this also proves the
      // foreign page reaches the gateway, so the POST's absence below is the policy's doing.
      const gets = (await seen(upstream, m)).filter((e) => e.method === 'GET');
      assert.equal(gets.length, 1, 'the simple GET reached the upstream');
      assert.equal(gets[0].headers.origin, evil());

      const post = await pageFetch(page, `${api()}/api/echo?m=${m}`, jsonPost({ steal: true }));
      assert.match(String(post.error), /TypeError/, 'the browser must block the preflighted POST');
      const others = (await seen(upstream, m)).filter((e) => e.method !== 'GET');
      assert.deepEqual(others.map((e) => e.method), [],
        'neither the preflight nor the POST may reach the upstream');
    });
  });

  test('7. Access-Control-Max-Age caches the preflight in the browser', async () => {
    // Observable: the browser's own network events (CDP Network.requestWillBeSent). Chromium
    // reports each preflight it sends as an OPTIONS request with initiator type "preflight";
    // a preflight answered from its preflight cache is not sent and not reported. The
    // gateway answers preflights itself, so the upstream log cannot count them.
    //
    // Without Access-Control-Max-Age Chromium still caches a preflight for 5 seconds, so
    // the second fetch waits 6 s: only the gateway's max-age (86400) can make it a hit.
    // The control runs the same two fetches, 6 s apart, against a gateway with
    // `cors_preflight_max_age: 0`, which sends no Access-Control-Max-Age (as
    // django-cors-headers does for 0): two preflights. So the observable counts every
    // preflight sent, and the case fails if the gateway's header goes missing.
    async function preflights(gateway, gapMs) {
      return withPage(browser, async (page, context) => {
        const origin = `http://app.example.test:${gateway.port}`;
        await open(page, `${origin}/`);
        const cdp = await context.newCDPSession(page);
        await cdp.send('Network.enable');
        const m = marker('c7');
        const sent = [];
        cdp.on('Network.requestWillBeSent', (e) => {
          if (e.request.url.includes(m)) sent.push({ method: e.request.method, initiator: e.initiator.type });
        });
        const url = `http://api.example.test:${gateway.port}/api/maxage?m=${m}`;
        const first = await pageFetch(page, url, jsonPost({ n: 1 }));
        assert.equal(first.status, 200, `first fetch: ${first.error}`);
        await sleep(gapMs);
        const second = await pageFetch(page, url, jsonPost({ n: 1 }));
        assert.equal(second.status, 200, `second fetch: ${second.error}`);
        await cdp.detach();
        const posts = (await seen(upstream, m)).filter((e) => e.method === 'POST');
        assert.equal(posts.length, 2, 'both POSTs reached the upstream');
        return sent.filter((s) => s.method === 'OPTIONS' && s.initiator === 'preflight').length;
      });
    }
    const [control, cached] = await Promise.all([preflights(gwNoCache, 6000), preflights(gw, 6000)]);
    assert.equal(control, 2, 'control: without Access-Control-Max-Age both fetches send a preflight');
    assert.equal(cached, 1, 'with the default max-age the second fetch needs no preflight');
  });

  test('8. Vary: origin keeps the shared HTTP cache from answering one origin with another\'s CORS', async () => {
    // One context = one HTTP cache, and app./www.example.test are the same site, so both
    // pages use the same cache partition. The upstream answers `public, max-age=60`.
    // Without `Vary: origin` the browser would hand www the response cached for app,
    // whose Access-Control-Allow-Origin names app: www's fetch would fail. The control
    // (/no-vary: the same answer without Vary) shows exactly that failure.
    await withPage(browser, async (page) => {
      const m = marker('c8');
      const resource = `${api()}/api/cached?m=${m}`;

      await open(page, `${app()}/`);
      const a1 = await pageFetch(page, resource, { credentials: 'include' });
      assert.equal(a1.status, 200, `app: ${a1.error}`);
      assert.equal(a1.body.origin, app());
      const a2 = await pageFetch(page, resource, { credentials: 'include' });
      assert.equal(a2.status, 200);
      assert.equal(a2.body.hit, a1.body.hit, 'the second fetch from app is a cache hit');
      assert.equal((await seen(upstream, m)).length, 1, 'the cache really holds the response');

      await open(page, `${www()}/`);
      const b = await pageFetch(page, resource, { credentials: 'include' });
      assert.equal(b.error, undefined, `www must not get app's cached CORS answer: ${b.error}`);
      assert.equal(b.status, 200);
      assert.equal(b.body.origin, www(), 'www got its own answer from the upstream');
      assert.equal((await seen(upstream, m)).length, 2);
    });

    await withPage(browser, async (page) => {
      const m = marker('c8-control');
      const resource = `http://api.example.test:${STATIC}/no-vary?m=${m}`;
      await open(page, `${app()}/`);
      const a = await pageFetch(page, resource, { credentials: 'include' });
      assert.equal(a.status, 200, `control app: ${a.error}`);
      await open(page, `${www()}/`);
      const b = await pageFetch(page, resource, { credentials: 'include' });
      assert.match(String(b.error), /TypeError/,
        'control: without Vary the cached answer for app is served to www and rejected');
      assert.equal((await seen(upstream, m, 'static')).length, 1, 'control: www was served from the cache');
    });
  });
});

describe('production: hosts and headers', () => {
  test('a name not in security_domains gets 400 and never reaches the upstream', async () => {
    await withPage(browser, async (page) => {
      // evil.test resolves to the gateway too (DNS rebinding, a stray CNAME).
      const m = marker('host');
      const r = await page.goto(`http://evil.test:${gw.port}/?m=${m}`);
      assert.equal(r.status(), 400);
      assert.deepEqual(await seen(upstream, m), []);
    });
  });

  test('X-Frame-Options: DENY — the browser refuses to frame a page, even on its own origin', async () => {
    await withPage(browser, async (page) => {
      await open(page, `${evil()}/`);
      assert.equal(await frameLoads(page, `${app()}/`), false, 'framed by a foreign site');
      await open(page, `${app()}/`);
      assert.equal(await frameLoads(page, `${app()}/`), false, 'framed by its own origin');
      // Control: the same page from the static server (no gateway) can be framed.
      assert.equal(await frameLoads(page, `${evil()}/`), true, 'control: an ungated page frames');
    });
  });
});

describe('production: CSRF', () => {
  test('3. a cross-site form POST gets 403 and never reaches the upstream', async () => {
    await withPage(browser, async (page) => {
      const m = marker('c3');
      const action = `${app()}/api/transfer?m=${m}`;
      const answered = page.waitForResponse((r) => r.url() === action && r.request().method() === 'POST');
      await page.goto(`${evil()}/form?action=${encodeURIComponent(action)}`);
      const r = await answered;
      assert.equal(r.status(), 403);
      assert.match(await r.text(), /Origin checking failed/);
      assert.deepEqual(await seen(upstream, m), [], 'the upstream never saw the forged POST');
    });
  });

  test('3. control: the same form submitted from the site itself passes', async () => {
    await withPage(browser, async (page) => {
      const m = marker('c3-same');
      const action = `${app()}/api/transfer?m=${m}`;
      const answered = page.waitForResponse((r) => r.url() === action && r.request().method() === 'POST');
      await page.goto(`${app()}/form?action=${encodeURIComponent(action)}`);
      const r = await answered;
      assert.equal(r.status(), 200);
      const posts = (await seen(upstream, m)).filter((e) => e.method === 'POST');
      assert.equal(posts.length, 1);
      assert.equal(posts[0].body, 'amount=1000&to=attacker');
    });
  });
});

describe('production: cookies', () => {
  // What proves the promise is what the browser does with the cookies, not the header
  // text alone. The upstream sets sessionid, csrftoken and theme with no attributes, so
  // every attribute the browser stores was added by the gateway.
  //  - On http://localhost (a secure context for Chromium, which accepts Secure cookies
  //    there) the stored cookies must be Secure and SameSite=Lax, and sessionid HttpOnly
  //    (read through CDP, which tells an explicit SameSite=Lax from an unspecified one).
  //  - On http://app.example.test (not a secure context) Chromium must refuse all three
  //    with the reason "SecureOnly": the Secure attribute reached the browser there too.
  // The development suite shows the same cookies stored "as set", without attributes.
  test('4. every cookie is Secure and SameSite=Lax; sessionid is HttpOnly (localhost)', async () => {
    await withPage(browser, async (page, context) => {
      const r = await open(page, `http://localhost:${gw.port}/api/cookies`);
      const received = parseSetCookies(await setCookieLines(r));
      assert.deepEqual(Object.keys(received).sort(), ['csrftoken', 'sessionid', 'theme']);
      for (const [name, c] of Object.entries(received)) assert.equal(c.attrs.secure, true, `${name} Set-Cookie has Secure`);

      const jar = Object.fromEntries((await storedCookies(context, page)).map((c) => [c.name, c]));
      assert.deepEqual(Object.keys(jar).sort(), ['csrftoken', 'sessionid', 'theme']);
      for (const c of Object.values(jar)) assert.equal(c.secure, true, `${c.name} stored Secure`);
      assert.equal(jar.sessionid.httpOnly, true, 'sessionid stored HttpOnly');
      assert.equal(jar.sessionid.sameSite, 'Lax', 'sessionid stored with an explicit SameSite=Lax');
      assert.equal(jar.theme.httpOnly, false, 'other cookies keep their own HttpOnly');
      // Production makes the browsers' default explicit on every cookie that names no
      // SameSite (the upstream sets none on theme and csrftoken).
      assert.equal(jar.theme.sameSite, 'Lax', 'every cookie without SameSite gets SameSite=Lax');
      assert.equal(jar.csrftoken.sameSite, 'Lax', 'every cookie without SameSite gets SameSite=Lax');
      assert.equal(jar.csrftoken.httpOnly, false, 'the CSRF cookie stays readable by scripts');

      // HttpOnly, as a page sees it: sessionid is invisible to script, the others are not.
      const visible = (await page.evaluate(() => document.cookie)).split('; ').map((s) => s.split('=')[0]).sort();
      assert.deepEqual(visible, ['csrftoken', 'theme']);
    });
  });

  test('4. on a plain-http name Chromium refuses the cookies as Secure-only', async () => {
    await withPage(browser, async (page, context) => {
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      const blocked = [];
      cdp.on('Network.responseReceivedExtraInfo', (e) => {
        for (const b of e.blockedCookies || []) blocked.push([b.cookie?.name, b.blockedReasons]);
      });
      await open(page, `${app()}/api/cookies`);
      await cdp.detach();
      assert.deepEqual(blocked.sort(), [
        ['csrftoken', ['SecureOnly']], ['sessionid', ['SecureOnly']], ['theme', ['SecureOnly']],
      ]);
      assert.deepEqual(await storedCookies(context, page), []);
    });
  });
});
