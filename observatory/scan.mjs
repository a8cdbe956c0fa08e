// Scans one host with the MDN HTTP Observatory's own scanner (the pinned npm package in
// package.json) and prints its verdict as one JSON object on stdout:
//
//   {"algorithmVersion": 4, "score": 105, "grade": "A+",
//    "tests": {"content-security-policy": {"result": "...", "scoreModifier": 10, "pass": true}, ...}}
//
// or {"error": "..."} with exit code 1 when the scanner refuses the site.
//
// Usage: node observatory/scan.mjs HOSTNAME
// The scanner fetches http://HOSTNAME/ and https://HOSTNAME/ (ports 80 and 443; it takes
// no port). A private CA is trusted through NODE_EXTRA_CA_CERTS. The HSTS preload list
// must be the empty one `scripts/observatory.sh` writes: a loopback host is never
// preloaded, and a list downloaded on the day would make results depend on the day.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { scan } from "@mdn/mdn-http-observatory/src/scanner/index.js";

const host = process.argv[2];
if (!host) {
  console.error("usage: node scan.mjs HOSTNAME");
  process.exit(2);
}

const require = createRequire(import.meta.url);
const pkg = path.dirname(require.resolve("@mdn/mdn-http-observatory/package.json"));
const preload = JSON.parse(fs.readFileSync(path.join(pkg, "conf", "hsts-preload.json"), "utf8"));
if (Object.keys(preload).length !== 0) {
  console.error("the HSTS preload list is not empty: run scripts/observatory.sh");
  process.exit(2);
}

try {
  const result = await scan(host);
  const tests = {};
  for (const [name, t] of Object.entries(result.tests)) {
    tests[name] = { result: t.result, scoreModifier: t.scoreModifier, pass: t.pass };
  }
  console.log(
    JSON.stringify({
      algorithmVersion: result.scan.algorithmVersion,
      score: result.scan.score,
      grade: result.scan.grade,
      statusCode: result.scan.statusCode,
      tests,
    })
  );
} catch (e) {
  console.log(JSON.stringify({ error: e instanceof Error ? e.message : String(e) }));
  process.exit(1);
}
