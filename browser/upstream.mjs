// The upstream service behind `hardened serve` in the browser tests, plus the plain
// "static" servers that host pages on other origins (the foreign site, the development
// loopback ports). Everything binds 127.0.0.1 only.
//
//   node upstream.mjs [--static SPEC]...
//
// SPEC is `0` (any free port) or `LOW-HIGH` (a free port inside that range, e.g. 3000-5000).
// Once listening it prints one JSON line on stdout: {"upstream": PORT, "static": [PORT, ...]}.
//
// Upstream routes (any Host):
//   GET  /                  an HTML page naming its origin (so a test can navigate there)
//   GET  /embed/...         an HTML page (the embeddable widget of the route tests)
//   *    /api/...           JSON {ok, method, path, origin}; every request is recorded
//   GET  /api/cookies       sets sessionid, csrftoken and theme with no attributes at all
//   GET  /api/cached        JSON with `Cache-Control: public, max-age=60`
//   GET  /form?action=URL   a page that auto-submits a urlencoded POST form to URL
//   GET  /ws                WebSocket echo (a plain GET without Upgrade gets 426)
//   GET  /__log             the recorded requests as JSON (not recorded itself)
//   DELETE /__log           clears the record
//   GET  /violate?img=URL   a page whose inline script and image a strict CSP blocks
//                           (`?csp=POLICY&endpoints=VALUE`: the page sets its own
//                           CSP-Report-Only and Reporting-Endpoints, to capture reports)
//   GET  /clean             a page a strict CSP allows (no inline code, same-origin only)
//   GET  /pixel.png         a 1x1 PNG
//   POST /__reports         records a report upload (content type and raw body)
//   GET  /__reports         the recorded uploads as JSON
// Static routes (the other ports):
//   GET  /                  an HTML page naming its origin
//   GET  /form?action=URL   a page that auto-submits a urlencoded POST form to URL
//   GET  /no-vary           a deliberately broken CORS answer: ACAO echoes the Origin,
//                           public and cacheable, and no `Vary: origin` (a test control)
// Both record every request except /__log in the same log, tagged with the port.

import http from 'node:http';
import { WebSocketServer } from 'ws';

const log = [];
let seq = 0;

function record(server, port, req, extra = {}) {
  log.push({
    seq: ++seq,
    server,
    port,
    method: req.method,
    path: req.url,
    headers: req.headers,
    upgrade: (req.headers.upgrade || '').toLowerCase() === 'websocket',
    ...extra,
  });
}

function originOf(req) {
  return `http://${req.headers.host || 'unknown'}`;
}

function page(req, res, body = '') {
  const origin = originOf(req);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(origin)}</title></head>` +
    `<body><h1>${escapeHtml(origin)}</h1>${body}</body></html>`);
}

// A page that auto-submits an urlencoded POST form to `?action=URL`, as an attacker's
// page would.
function formPage(req, res, url) {
  const action = url.searchParams.get('action') || '/';
  return page(req, res,
    `<form method="POST" action="${escapeHtml(action)}">` +
    '<input type="hidden" name="amount" value="1000"><input type="hidden" name="to" value="attacker">' +
    '</form><script>document.forms[0].submit()</script>');
}

// Report uploads received at /__reports (the capture of real browser reports).
const reports = [];

const PIXEL = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64');

// A page that breaks a strict CSP on purpose: an inline script (it sets
// `window.inlineRan`) and an image from `?img=URL`. With `?csp=`, the page sends its own
// Content-Security-Policy-Report-Only (and `?endpoints=` its Reporting-Endpoints).
function violatePage(req, res, url) {
  const csp = url.searchParams.get('csp');
  if (csp) res.setHeader('content-security-policy-report-only', csp);
  const endpoints = url.searchParams.get('endpoints');
  if (endpoints) res.setHeader('reporting-endpoints', endpoints);
  const img = url.searchParams.get('img') || '/pixel.png';
  return page(req, res,
    `<img id="img" src="${escapeHtml(img)}" alt="">` +
    '<script>window.inlineRan = true;</script>');
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function json(res, status, value, headers = {}) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function drain(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(''));
  });
}

function upstreamHandler(port) {
  let cachedHits = 0;
  return async (req, res) => {
    const url = new URL(req.url, 'http://upstream');
    if (url.pathname === '/__log') {
      await drain(req);
      if (req.method === 'DELETE') {
        log.length = 0;
        return json(res, 200, { cleared: true });
      }
      return json(res, 200, log);
    }
    if (url.pathname === '/__reports') {
      const raw = await drain(req);
      if (req.method === 'POST') {
        reports.push({ contentType: req.headers['content-type'] || '', body: raw });
        res.writeHead(204);
        return res.end();
      }
      return json(res, 200, reports);
    }
    const body = await drain(req);
    record('upstream', port, req, { body });
    if (url.pathname === '/violate' && req.method === 'GET') return violatePage(req, res, url);
    if (url.pathname === '/clean' && req.method === 'GET') return page(req, res, '<p>clean</p>');
    if (url.pathname === '/pixel.png') {
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' });
      return res.end(PIXEL);
    }
    if (url.pathname === '/' && req.method === 'GET') return page(req, res);
    if (url.pathname === '/form' && req.method === 'GET') return formPage(req, res, url);
    if (url.pathname === '/ws') {
      return json(res, 426, { error: 'websocket upgrade required' }, { upgrade: 'websocket' });
    }
    if (url.pathname.startsWith('/embed/') && req.method === 'GET') return page(req, res);
    if (url.pathname === '/api/cookies') {
      // No attributes on purpose: whatever the browser stores beyond name=value
      // (Secure, HttpOnly, SameSite) was added on the way, by the gateway.
      res.setHeader('set-cookie', ['sessionid=s3ss10n; Path=/', 'csrftoken=t0k3n; Path=/', 'theme=dark; Path=/']);
      return page(req, res, '<p>cookies set</p>');
    }
    if (url.pathname === '/api/cached') {
      cachedHits += 1;
      return json(res, 200, { ok: true, hit: cachedHits, origin: req.headers.origin || null },
        { 'cache-control': 'public, max-age=60' });
    }
    if (url.pathname.startsWith('/api/')) {
      return json(res, 200, {
        ok: true, method: req.method, path: req.url, origin: req.headers.origin || null, body,
      });
    }
    json(res, 404, { error: 'not found' });
  };
}

function staticHandler(port) {
  let hits = 0;
  return async (req, res) => {
    await drain(req);
    const url = new URL(req.url, 'http://static');
    record('static', port, req);
    if (url.pathname === '/' && req.method === 'GET') return page(req, res);
    if (url.pathname === '/form' && req.method === 'GET') return formPage(req, res, url);
    if (url.pathname === '/no-vary') {
      hits += 1;
      const headers = { 'cache-control': 'public, max-age=60' };
      if (req.headers.origin) {
        headers['access-control-allow-origin'] = req.headers.origin;
        headers['access-control-allow-credentials'] = 'true';
      }
      return json(res, 200, { ok: true, hit: hits, origin: req.headers.origin || null }, headers);
    }
    json(res, 404, { error: 'not found' });
  };
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    const onError = (e) => { server.off('listening', onListening); reject(e); };
    const onListening = () => { server.off('error', onError); resolve(server.address().port); };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, '127.0.0.1');
  });
}

async function listenInRange(makeServer, spec) {
  if (spec === '0') {
    const server = makeServer();
    return { server, port: await listen(server, 0) };
  }
  const m = /^(\d+)-(\d+)$/.exec(spec);
  if (!m) throw new Error(`bad --static ${spec}: give 0 or LOW-HIGH`);
  const [lo, hi] = [Number(m[1]), Number(m[2])];
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = lo + Math.floor(Math.random() * (hi - lo + 1));
    const server = makeServer();
    try {
      return { server, port: await listen(server, port) };
    } catch (e) {
      if (e.code !== 'EADDRINUSE' && e.code !== 'EACCES') throw e;
    }
  }
  throw new Error(`no free port in ${spec} after 50 attempts`);
}

async function main() {
  const specs = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--static' && i + 1 < argv.length) specs.push(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }

  // The upstream: HTTP plus a WebSocket echo on /ws. Handshakes are recorded before
  // they are accepted, so a test can prove one never arrived.
  const upstream = http.createServer();
  const upstreamPort = await listen(upstream, 0);
  upstream.on('request', upstreamHandler(upstreamPort));
  const wss = new WebSocketServer({ noServer: true });
  upstream.on('upgrade', (req, socket, head) => {
    record('upstream', upstreamPort, req);
    const url = new URL(req.url, 'http://upstream');
    if (url.pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo:${data}`));
    });
  });

  const statics = [];
  for (const spec of specs) {
    const { server, port } = await listenInRange(() => http.createServer(), spec);
    server.on('request', staticHandler(port));
    statics.push(port);
  }

  process.stdout.write(`${JSON.stringify({ upstream: upstreamPort, static: statics })}\n`);
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent owns this process: when its stdin closes (parent gone), exit.
  process.stdin.on('end', stop);
  process.stdin.resume();
}

main().catch((e) => {
  process.stderr.write(`upstream: ${e.stack || e}\n`);
  process.exit(1);
});
