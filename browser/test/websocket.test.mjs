// WebSockets through the production gateway, in a real browser: a page on an allowed
// origin opens a socket through the gateway and gets its echo; a page on a foreign
// origin is refused at the handshake (403, Django Channels' AllowedHostsOriginValidator
// semantics) and the upstream never sees the handshake.
//
// BROWSER_SKIP=websocket skips this file's cases.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SECRET_KEY, eventually, launchBrowser, marker, open, seen, skipped, startGateway, startUpstream, withPage,
} from '../lib/harness.mjs';

const skip = skipped('websocket') ? 'BROWSER_SKIP=websocket' : false;

let upstream;
let gw;
let browser;
let STATIC;

before(async () => {
  if (skip) return;
  upstream = await startUpstream(['0']);
  [STATIC] = upstream.static;
  gw = await startGateway({
    name: 'websocket',
    upstreamPort: upstream.upstream,
    yaml: (port) => `environment: production
secret_key: "${SECRET_KEY}"
security_domains:
  - app.example.test
  - http://app.example.test:${port}
`,
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gw?.stop();
  await upstream?.stop();
});

/**
 * Opens `url` from the page, sends "ping" once open and reports what happened:
 * {opened, message, closeCode}. Bounded by 5 s in the page.
 */
function socket(page, url) {
  return page.evaluate((url) => new Promise((resolve) => {
    const r = { opened: false, message: null, closeCode: null, error: false };
    const ws = new WebSocket(url);
    const done = () => { clearTimeout(timer); resolve(r); };
    const timer = setTimeout(() => { r.timedOut = true; ws.close(); resolve(r); }, 5000);
    ws.onopen = () => { r.opened = true; ws.send('ping'); };
    ws.onmessage = (e) => { r.message = String(e.data); ws.close(1000); };
    ws.onerror = () => { r.error = true; };
    ws.onclose = (e) => { r.closeCode = e.code; done(); };
  }), url);
}

/** Console lines Chromium logs for failed WebSocket handshakes (they carry the status). */
function handshakeErrors(page) {
  const lines = [];
  page.on('console', (m) => {
    if (/WebSocket connection to/.test(m.text())) lines.push(m.text());
  });
  return lines;
}

describe('websocket', () => {
  test('6. an allowed origin opens a WebSocket through the gateway and gets the echo', { skip }, async () => {
    await withPage(browser, async (page) => {
      const errors = handshakeErrors(page);
      await open(page, `http://app.example.test:${gw.port}/`);
      const m = marker('c6');
      const r = await socket(page, `ws://app.example.test:${gw.port}/ws?m=${m}`);
      assert.deepEqual(errors, [], 'no handshake error');
      assert.equal(r.opened, true, 'the socket opened');
      assert.equal(r.message, 'echo:ping');
      const handshakes = (await seen(upstream, m)).filter((e) => e.upgrade);
      assert.equal(handshakes.length, 1, 'the upstream saw the handshake');
      assert.equal(handshakes[0].headers.origin, `http://app.example.test:${gw.port}`);
    });
  });

  test('6. a foreign origin is refused with 403 and the upstream never sees the handshake', { skip }, async () => {
    await withPage(browser, async (page) => {
      const errors = handshakeErrors(page);
      await open(page, `http://evil.test:${STATIC}/`);
      const m = marker('c6-evil');
      const r = await socket(page, `ws://app.example.test:${gw.port}/ws?m=${m}`);
      assert.equal(r.opened, false, 'the socket must not open');
      assert.equal(r.closeCode, 1006);
      await eventually(() => errors.length > 0, 2000);
      assert.equal(errors.length, 1, `one handshake error: ${errors}`);
      assert.match(errors[0], /Unexpected response code: 403/);
      assert.deepEqual(await seen(upstream, m), [], 'the upstream never saw the handshake');
    });
  });
});
