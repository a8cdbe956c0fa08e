import { startUpstream, withPage, CHROMIUM } from '/work/wt-reports/browser/lib/harness.mjs';
import { chromium } from './node_modules/playwright-core/index.mjs';
const up = await startUpstream();
const base = `http://127.0.0.1:${up.upstream}`;
const variant = process.argv[2];
const args = ['--headless','--no-sandbox','--disable-gpu','--no-first-run','--short-reporting-delay'];
if (variant === 'bg') args.push('--disable-background-networking');
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
const img = `http://localhost:${up.upstream}/pixel.png`;
await withPage(browser, async (page) => {
  const modern = `default-src 'self'; report-to r`;
  const ep = variant === 'abs' ? `r="${base}/__reports"` : 'r="/__reports"';
  await page.goto(`${base}/violate?img=${encodeURIComponent(img)}&csp=${encodeURIComponent(modern)}&endpoints=${encodeURIComponent(ep)}`);
  await new Promise(r => setTimeout(r, 4000));
});
const r = await fetch(`${base}/__reports`); console.log(variant, JSON.stringify(await r.json(), null, 1).slice(0, 3000));
await browser.close(); await up.stop();
