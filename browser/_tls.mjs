import { startUpstream, CHROMIUM, freePort } from './lib/harness.mjs';
import { chromium } from './node_modules/playwright-core/index.mjs';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
const up = await startUpstream();
const port = await freePort();
fs.writeFileSync('/tmp/tlsx/config.yaml', `environment: production
role: gateway
security_domains: ["https://localhost:${port}"]
headers:
  content_security_policy_report_only: "default-src 'self'"
reports: true
gateway:
  tls: {cert: /tmp/tlsx/cert.pem, key: /tmp/tlsx/key.pem}
`);
const gw = spawn('/work/target-reports/debug/hardened', ['serve', '--config', '/tmp/tlsx/config.yaml', '--listen', `127.0.0.1:${port}`, '--upstream', `http://127.0.0.1:${up.upstream}`, '--log-format', 'json', '--access-log'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, HOME: '/tmp/tlsx', DOCKER: 'false' } });
let err = ''; gw.stderr.on('data', d => err += d); gw.stdout.on('data', d => err += d);
await new Promise(r => setTimeout(r, 1500));
const args = ['--headless','--no-sandbox','--disable-gpu','--no-first-run','--short-reporting-delay', '--ignore-certificate-errors'];
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
const page = await ctx.newPage();
const resp = await page.goto(`https://localhost:${port}/violate?img=${encodeURIComponent(`http://127.0.0.1:${up.upstream}/pixel.png`)}`);
console.log(JSON.stringify(resp.headers()));
console.log('inline ran', await page.evaluate(() => window.inlineRan));
await new Promise(r => setTimeout(r, 8000));
await browser.close();
gw.kill('SIGTERM'); await up.stop();
console.log(err.slice(0, 4000));
