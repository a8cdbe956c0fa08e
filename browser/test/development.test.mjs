// Development policy in a real browser: CORS is open to loopback origins on any port;
// CSRF trusts loopback origins only on the ports 3000–5000 and 8000–9000; cookies pass
// as the upstream set them.
//
// The gateway listens on an ephemeral port (outside both ranges) and is reached as
// http://localhost:GW. The pages are plain static servers on loopback ports picked inside
// 3000–5000 and 8000–9000, and one outside them (9500–9999).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  frameLoads, launchBrowser, marker, open, pageFetch, parseSetCookies, seen, setCookieLines,
  startGateway, startUpstream, storedCookies, withPage,
} from '../lib/harness.mjs';

let upstream;
let gw;
let browser;
let IN_LOW;
let IN_HIGH;
let OUTSIDE;

const gateway = () => `http://localhost:${gw.port}`;

before(async () => {
  upstream = await startUpstream(['3000-5000', '8000-9000', '9500-9999']);
  [IN_LOW, IN_HIGH, OUTSIDE] = upstream.static;
  gw = await startGateway({
    name: 'development',
    upstreamPort: upstream.upstream,
    yaml: () => 'environment: development\n',
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gw?.stop();
  await upstream?.stop();
});

const jsonPost = (body) => ({
  method: 'POST',
  credentials: 'include',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/**
 * From a page on `origin`: a credentialed GET and a preflighted JSON POST to the gateway.
 * Returns the page's view of both, the POST's status as the browser saw it on the wire,
 * and what reached the upstream.
 */
async function fromPage(origin) {
  return withPage(browser, async (page) => {
    await open(page, `${origin}/`);
    const m = marker('c5');
    const get = await pageFetch(page, `${gateway()}/api/dev?m=${m}`, { credentials: 'include' });
    const postUrl = `${gateway()}/api/dev-post?m=${m}`;
    const answered = page.waitForResponse((r) => r.url() === postUrl && r.request().method() === 'POST');
    const post = await pageFetch(page, postUrl, jsonPost({ from: origin }));
    const wire = await answered;
    const log = await seen(upstream, m);
    return { get, post, postStatus: wire.status(), upstream: log };
  });
}

describe('development: loopback ports', () => {
  for (const [host, range, port] of [
    ['localhost', '3000–5000', () => IN_LOW],
    ['localhost', '8000–9000', () => IN_HIGH],
    ['127.0.0.1', '3000–5000', () => IN_LOW],
  ]) {
    test(`5. a page on ${host}:<port in ${range}> reads a credentialed GET and its POST passes CSRF`, async () => {
      const origin = `http://${host}:${port()}`;
      const r = await fromPage(origin);
      assert.equal(r.get.error, undefined, `GET blocked: ${r.get.error}`);
      assert.equal(r.get.body.origin, origin);
      assert.equal(r.post.error, undefined, `POST blocked: ${r.post.error}`);
      assert.equal(r.postStatus, 200);
      assert.equal(r.post.body.method, 'POST');
      const posts = r.upstream.filter((e) => e.method === 'POST');
      assert.equal(posts.length, 1);
      assert.equal(posts[0].headers.origin, origin);
    });
  }

  test('5. a page on localhost:<port outside the ranges> gets CORS but its POST fails CSRF with 403', async () => {
    const origin = `http://localhost:${OUTSIDE}`;
    const r = await fromPage(origin);
    // CORS: any loopback port may read.
    assert.equal(r.get.error, undefined, `GET blocked: ${r.get.error}`);
    assert.equal(r.get.body.origin, origin);
    // The preflight passed (CORS), so the browser sent the POST; CSRF rejected it.
    assert.equal(r.postStatus, 403);
    assert.notEqual(r.post.status, 200);
    assert.deepEqual(r.upstream.filter((e) => e.method !== 'GET').map((e) => e.method), [],
      'the POST never reached the upstream');
  });
});

describe('development: cookies', () => {
  // The control of the production cookie case: the same upstream cookies, stored as set.
  test('4. control: cookies are stored as the upstream set them (no Secure, HttpOnly, SameSite)', async () => {
    await withPage(browser, async (page, context) => {
      const r = await open(page, `${gateway()}/api/cookies`);
      const received = parseSetCookies(await setCookieLines(r));
      for (const c of Object.values(received)) assert.deepEqual(c.attrs, { path: '/' });
      const jar = await storedCookies(context, page);
      assert.deepEqual(jar.map((c) => c.name).sort(), ['csrftoken', 'sessionid', 'theme']);
      for (const c of jar) {
        assert.equal(c.secure, false, `${c.name} not Secure`);
        assert.equal(c.httpOnly, false, `${c.name} not HttpOnly`);
        assert.equal(c.sameSite, undefined, `${c.name} without SameSite`);
      }
    });
  });
});

describe('development: headers', () => {
  test('X-Frame-Options: SAMEORIGIN — framing by the same origin works, by another origin does not', async () => {
    await withPage(browser, async (page) => {
      await open(page, `${gateway()}/`);
      assert.equal(await frameLoads(page, `${gateway()}/`), true, 'same origin');
      assert.equal(await frameLoads(page, `http://127.0.0.1:${gw.port}/`), false, 'another origin');
    });
  });
});
