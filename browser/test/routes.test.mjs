// Per-route policy in a real browser, through `hardened serve`: an embeddable route
// framed by a partner origin and refused to every other site (while every other page
// stays unframable), and a public API route that any origin may read, without
// credentials, beside a private API only the site's own origins may read.
//
// Origins (all resolve to 127.0.0.1 through --host-resolver-rules):
//   http://app.example.test:GW, http://api.example.test:GW   behind the gateway
//   http://partner.example.test:PARTNER                        the partner's site (static)
//   http://evil.test:EVIL                                      a foreign site (static)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SECRET_KEY, frameLoads, launchBrowser, marker, open, pageFetch, seen, startGateway,
  startUpstream, withPage,
} from '../lib/harness.mjs';

let upstream;
let gw;
let browser;
let EVIL;
let PARTNER;

const routesYaml = (port) => `environment: production
debug: false
secret_key: "${SECRET_KEY}"
security_domains:
  - http://app.example.test:${port}
  - http://api.example.test:${port}
routes:
  - path: /embed/*
    headers:
      frame_ancestors: [http://partner.example.test:${PARTNER}]
  - path: /api/public/*
    cors:
      origins: ["*"]
`;

const app = () => `http://app.example.test:${gw.port}`;
const api = () => `http://api.example.test:${gw.port}`;
const partner = () => `http://partner.example.test:${PARTNER}`;
const evil = () => `http://evil.test:${EVIL}`;

before(async () => {
  upstream = await startUpstream(['0', '0']);
  [EVIL, PARTNER] = upstream.static;
  gw = await startGateway({ name: 'routes', upstreamPort: upstream.upstream, yaml: routesYaml });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gw?.stop();
  await upstream?.stop();
});

describe('routes: an embeddable route', () => {
  test('the partner frames the widget; no other page of the site', async () => {
    await withPage(browser, async (page) => {
      await open(page, `${partner()}/`);
      assert.equal(await frameLoads(page, `${app()}/embed/widget`), true, 'the partner frames the widget');
      // The route's spelling does not matter: the normalised path is the route's.
      assert.equal(await frameLoads(page, `${app()}/x/../embed/widget`), true, 'another spelling of the route');
      assert.equal(await frameLoads(page, `${app()}/`), false, 'any other page stays unframable');
    });
  });

  test('every other site is refused the widget', async () => {
    await withPage(browser, async (page) => {
      await open(page, `${evil()}/`);
      assert.equal(await frameLoads(page, `${app()}/embed/widget`), false, 'framed by a foreign site');
      // Control: a page of the foreign site's own server frames.
      assert.equal(await frameLoads(page, `${evil()}/`), true, 'control: an ungated page frames');
    });
  });
});

describe('routes: a public API route', () => {
  test('any origin reads the public API without credentials, never with them', async () => {
    await withPage(browser, async (page) => {
      await open(page, `${evil()}/`);
      const m = marker('r-pub');
      const plain = await pageFetch(page, `${api()}/api/public/items?m=${m}`);
      assert.equal(plain.error, undefined, `public read blocked: ${plain.error}`);
      assert.equal(plain.status, 200);
      assert.equal(plain.body.origin, evil());
      const credentialed = await pageFetch(page, `${api()}/api/public/items?m=${m}`, { credentials: 'include' });
      assert.match(String(credentialed.error), /TypeError/, 'a credentialed read must be refused');
      // A preflighted request: the gateway answers the preflight by the route it asks about.
      const custom = await pageFetch(page, `${api()}/api/public/items?m=${m}-pre`, {
        headers: { 'x-requested-with': 'fetch' },
      });
      assert.equal(custom.error, undefined, `preflighted read blocked: ${custom.error}`);
      const reached = (await seen(upstream, `${m}-pre`)).map((e) => e.method);
      assert.deepEqual(reached, ['GET'], 'the preflight is answered by the gateway, the GET reaches the upstream');
    });
  });

  test('the private API stays closed to foreign origins and open to the site', async () => {
    await withPage(browser, async (page) => {
      await open(page, `${evil()}/`);
      const m = marker('r-priv');
      const foreign = await pageFetch(page, `${api()}/api/private?m=${m}`);
      assert.match(String(foreign.error), /TypeError/, 'a foreign origin must not read the private API');
      await open(page, `${app()}/`);
      const own = await pageFetch(page, `${api()}/api/private?m=${m}`, { credentials: 'include' });
      assert.equal(own.error, undefined, `the site's own read blocked: ${own.error}`);
      assert.equal(own.status, 200);
    });
  });
});
