//! The MDN HTTP Observatory's scan, reproduced: the same requests (`http://HOST/` and
//! `https://HOST/` with redirects followed and recorded, a cookie jar per session, a
//! CORS preflight), the same ten tests with the same result names, and the same
//! scoring (algorithm version 4, `@mdn/mdn-http-observatory` 1.4.8).
//!
//! Where the package departs from its documentation, this follows the package (the test
//! suite compares the two on every site of its corpus): universal CORS access is never
//! reported (the package reads the preflight's Origin from a property Node's request
//! object lacks), no `crossdomain.xml`/`clientaccesspolicy.xml` is fetched, and
//! COOP/COEP are not scored. Two simplifications, named in the report's docs: no HSTS
//! preload list (no host counts as preloaded), and the registrable domain of the
//! subresource-integrity test is the last two labels of a name (the package uses the
//! public suffix list).

use std::collections::BTreeMap;

use super::client::{Client, NetError, Req, Resp, Url};
use super::html;

/// The algorithm version reproduced.
pub(crate) const ALGORITHM_VERSION: u32 = 4;
/// Redirects followed per session (the package's `MAX_REDIRECTS`).
const MAX_REDIRECTS: usize = 10;
/// The Origin of the package's CORS preflight.
pub(crate) const CORS_ORIGIN: &str = "https://http-observatory.security.mozilla.org";
const ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

// ---------------------------------------------------------------- retrieval

/// One response of a redirect chain.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    pub(crate) url: Url,
    pub(crate) resp: Resp,
}

/// One session: the chain from `start`, or the failure that ended it.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) start: Url,
    pub(crate) hops: Vec<Hop>,
    pub(crate) error: Option<NetError>,
    pub(crate) jar: Jar,
}

impl Session {
    /// The final response, when the chain completed.
    pub(crate) fn response(&self) -> Option<&Hop> {
        if self.error.is_some() {
            None
        } else {
            self.hops.last()
        }
    }

    /// Whether every TLS hop verified (the package's `verified`).
    pub(crate) fn verified(&self) -> bool {
        self.hops
            .iter()
            .all(|h| h.resp.tls.as_ref().is_none_or(|t| t.verify_error.is_none()))
    }

    async fn fetch(client: &Client, start: Url) -> Session {
        let mut s = Session {
            start: start.clone(),
            hops: Vec::new(),
            error: None,
            jar: Jar::default(),
        };
        let mut url = start;
        loop {
            let req = Req::get(&url).header("accept", ACCEPT);
            match client.send(&req).await {
                Ok(resp) => {
                    for c in resp.all("set-cookie") {
                        s.jar.set(c, &url);
                    }
                    let next = if matches!(resp.status, 301 | 302 | 303 | 307 | 308)
                        && s.hops.len() < MAX_REDIRECTS
                    {
                        Some(url.join(resp.first("location").unwrap_or("")))
                    } else {
                        None
                    };
                    s.hops.push(Hop {
                        url: url.clone(),
                        resp,
                    });
                    match next {
                        None => return s,
                        Some(Some(n)) => url = n,
                        Some(None) => {
                            s.error = Some(NetError::Http {
                                url: url.to_string(),
                                cause: "a redirect to an unusable Location".to_owned(),
                            });
                            return s;
                        }
                    }
                }
                Err(e) => {
                    s.error = Some(e);
                    return s;
                }
            }
        }
    }
}

/// What the scan fetched.
#[derive(Debug)]
pub(crate) struct Retrieval {
    pub(crate) host: String,
    pub(crate) http: Session,
    pub(crate) https: Session,
    /// Whether `https` is the session graded (it answered), else `http`.
    pub(crate) auto_https: bool,
    /// The CORS preflight's 2xx response.
    pub(crate) cors: Option<Resp>,
}

impl Retrieval {
    /// The session graded.
    pub(crate) fn session(&self) -> &Session {
        if self.auto_https {
            &self.https
        } else {
            &self.http
        }
    }

    /// The response graded (`responses.auto`).
    pub(crate) fn auto(&self) -> Option<&Hop> {
        self.session().response()
    }

    /// Fetches what the Observatory fetches for `url`'s host and path (ports 80 and 443
    /// unless `url` names another port for its scheme).
    pub(crate) async fn fetch(client: &Client, url: &Url) -> Retrieval {
        let mut http = url.with_scheme(false, &url.path);
        let mut https = url.with_scheme(true, &url.path);
        if url.https {
            https.port = url.port;
        } else {
            http.port = url.port;
        }
        let (http, https) =
            tokio::join!(Session::fetch(client, http), Session::fetch(client, https));
        let auto_https = https.response().is_some();
        let mut r = Retrieval {
            host: url.host.clone(),
            http,
            https,
            auto_https,
            cors: None,
        };
        if r.session().error.is_some() {
            return r;
        }
        // The package's second client (robots.txt, the preflight) follows redirects; it
        // shares the session's cookie jar only after a certificate error made it retry
        // without verification.
        let unverified = !r.session().verified();
        let start = r.session().start.clone();
        if unverified {
            let req = Req::get(&start.join("/robots.txt").unwrap_or_else(|| start.clone()))
                .header("accept", "text/plain,*/*;q=0.8");
            let jar = if r.auto_https {
                &mut r.https.jar
            } else {
                &mut r.http.jar
            };
            let _ = follow(client, req, Some(jar)).await;
        }
        // The preflight goes to the last URL of the graded session's chain and keeps only
        // a 2xx answer.
        if let Some(target) = r.session().hops.last().map(|h| h.url.clone()) {
            let mut req = Req::get(&target)
                .header("accept", ACCEPT)
                .header("access-control-request-method", "GET")
                .header("origin", CORS_ORIGIN);
            req.method = http::Method::OPTIONS;
            let jar = match (unverified, r.auto_https) {
                (false, _) => None,
                (true, true) => Some(&mut r.https.jar),
                (true, false) => Some(&mut r.http.jar),
            };
            r.cors = follow(client, req, jar)
                .await
                .filter(|resp| (200..300).contains(&resp.status));
        }
        r
    }
}

/// Sends `req`, following up to 10 redirects (303 turns into GET), cookies of every hop
/// into `jar` when given: the final response.
async fn follow(client: &Client, mut req: Req, mut jar: Option<&mut Jar>) -> Option<Resp> {
    for _ in 0..=MAX_REDIRECTS {
        let resp = client.send(&req).await.ok()?;
        if let Some(jar) = jar.as_deref_mut() {
            for c in resp.all("set-cookie") {
                jar.set(c, &req.url);
            }
        }
        match resp.first("location").and_then(|l| req.url.join(l)) {
            Some(next) if matches!(resp.status, 301 | 302 | 303 | 307 | 308) => {
                if resp.status == 303 {
                    req.method = http::Method::GET;
                }
                req.url = next;
            }
            _ => return Some(resp),
        }
    }
    None
}

// ---------------------------------------------------------------- headers as Node sees them

/// Headers whose duplicates Node drops (the first is kept).
const NODE_SINGLE: &[&str] = &[
    "age",
    "authorization",
    "content-length",
    "content-type",
    "etag",
    "expires",
    "from",
    "host",
    "if-modified-since",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "proxy-authorization",
    "referer",
    "retry-after",
    "server",
    "user-agent",
];

/// `getHttpHeaders`: `set-cookie` as a list, other duplicates joined with `, ` (or the
/// first kept), as Node's `IncomingMessage.headers`.
fn node_headers(resp: &Resp, name: &str) -> Vec<String> {
    let all = resp.all(name);
    if all.is_empty() {
        return Vec::new();
    }
    if name == "set-cookie" {
        return all.iter().map(|s| (*s).to_owned()).collect();
    }
    if NODE_SINGLE.contains(&name) {
        return vec![all.first().map(|s| (*s).to_owned()).unwrap_or_default()];
    }
    vec![all.join(", ")]
}

fn node_first(resp: &Resp, name: &str) -> Option<String> {
    node_headers(resp, name).into_iter().next()
}

// ---------------------------------------------------------------- cookies (tough-cookie)

/// A cookie as the package's jar keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cookie {
    pub(crate) key: String,
    pub(crate) domain: String,
    pub(crate) path: String,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    /// `strict`, `lax` or `none`; anything else is no SameSite.
    pub(crate) same_site: Option<String>,
    pub(crate) host_only: bool,
}

/// A cookie jar with tough-cookie 5's rules for setting cookies (RFC 6265 parsing,
/// domain matching, default path, `__Secure-`/`__Host-` prefixes dropped silently).
#[derive(Debug, Default)]
pub(crate) struct Jar {
    pub(crate) cookies: Vec<Cookie>,
}

/// Parses one `Set-Cookie` value as tough-cookie does (non-loose mode).
pub(crate) fn parse_cookie(raw: &str) -> Option<Cookie> {
    let raw = raw.trim();
    let (pair, rest) = match raw.find(';') {
        Some(i) => (raw.get(..i)?, raw.get(i + 1..)),
        None => (raw, None),
    };
    let eq = pair.find('=')?;
    if eq == 0 {
        return None;
    }
    let key = pair.get(..eq)?.trim().to_owned();
    let value = pair.get(eq + 1..)?.trim();
    if key.chars().chain(value.chars()).any(|c| {
        let c = c as u32;
        c <= 0x08 || (0x0a..=0x1f).contains(&c) || c == 0x7f
    }) {
        return None;
    }
    let mut c = Cookie {
        key,
        domain: String::new(),
        path: String::new(),
        secure: false,
        http_only: false,
        same_site: None,
        host_only: true,
    };
    for av in rest.unwrap_or("").split(';') {
        let av = av.trim();
        if av.is_empty() {
            continue;
        }
        let (k, v) = match av.find('=') {
            Some(i) => (
                av.get(..i).unwrap_or(""),
                Some(av.get(i + 1..).unwrap_or("").trim()),
            ),
            None => (av, None),
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "domain" => {
                if let Some(d) = v.filter(|v| !v.is_empty()) {
                    let d = d.trim().trim_start_matches('.');
                    if !d.is_empty() {
                        c.domain = d.to_ascii_lowercase();
                    }
                }
            }
            "path" => {
                c.path = match v {
                    Some(p) if p.starts_with('/') => p.to_owned(),
                    _ => String::new(),
                };
            }
            "secure" => c.secure = true,
            "httponly" => c.http_only = true,
            "samesite" => {
                c.same_site = match v.map(str::to_ascii_lowercase).as_deref() {
                    Some(s @ ("strict" | "lax" | "none")) => Some(s.to_owned()),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    Some(c)
}

fn domain_match(host: &str, domain: &str) -> bool {
    host == domain
        || (host.parse::<std::net::IpAddr>().is_err()
            && host.len() > domain.len()
            && host.ends_with(domain)
            && host
                .get(..host.len() - domain.len())
                .is_some_and(|p| p.ends_with('.')))
}

fn default_path(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("/");
    if !path.starts_with('/') {
        return "/".to_owned();
    }
    match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => path.get(..i).unwrap_or("/").to_owned(),
    }
}

impl Jar {
    /// Stores `raw` as set by a response to `url` (errors are ignored, as the
    /// package's cookie agent does).
    pub(crate) fn set(&mut self, raw: &str, url: &Url) {
        let Some(mut c) = parse_cookie(raw) else {
            return;
        };
        if c.domain.is_empty() {
            c.domain = url.host.clone();
            c.host_only = true;
        } else {
            if !domain_match(&url.host, &c.domain) {
                return;
            }
            c.host_only = false;
        }
        if !c.path.starts_with('/') {
            c.path = default_path(&url.path);
        }
        if c.key.starts_with("__Secure-") && !c.secure {
            return;
        }
        if c.key.starts_with("__Host-") && !(c.secure && c.host_only && c.path == "/") {
            return;
        }
        self.cookies
            .retain(|o| !(o.key == c.key && o.domain == c.domain && o.path == c.path));
        self.cookies.push(c);
    }
}

// ---------------------------------------------------------------- tests

/// One test's outcome.
#[derive(Debug, Clone)]
pub(crate) struct TestResult {
    /// The Observatory's test name.
    pub(crate) name: &'static str,
    /// The Observatory's result code.
    pub(crate) result: &'static str,
    /// Whether the test passed.
    pub(crate) pass: bool,
    /// The score modifier of the result.
    pub(crate) modifier: i32,
}

/// The score modifier of each result (the package's `SCORE_TABLE`).
pub(crate) fn modifier(result: &str) -> i32 {
    match result {
        "csp-implemented-with-no-unsafe-default-src-none" => 10,
        "csp-implemented-with-no-unsafe" => 5,
        "csp-implemented-with-insecure-scheme-in-passive-content-only" => -10,
        "csp-implemented-with-unsafe-eval" => -10,
        "csp-implemented-with-unsafe-inline" | "csp-implemented-with-insecure-scheme" => -20,
        "csp-header-invalid"
        | "csp-not-implemented"
        | "csp-not-implemented-but-reporting-enabled" => -25,
        "cookies-secure-with-httponly-sessions-and-samesite" => 5,
        "cookies-without-secure-flag-but-protected-by-hsts" => -5,
        "cookies-session-without-secure-flag-but-protected-by-hsts" => -10,
        "cookies-without-secure-flag"
        | "cookies-samesite-flag-invalid"
        | "cookies-anticsrf-without-samesite-flag" => -20,
        "cookies-session-without-httponly-flag" => -30,
        "cookies-session-without-secure-flag" => -40,
        "cross-origin-resource-sharing-implemented-with-universal-access" => -50,
        "redirection-off-host-from-http" => -5,
        "redirection-not-to-https-on-initial-redirection" => -10,
        "redirection-not-to-https" | "redirection-missing" | "redirection-invalid-cert" => -20,
        "referrer-policy-private" => 5,
        "referrer-policy-unsafe" | "referrer-policy-header-invalid" => -5,
        "hsts-preloaded" => 5,
        "hsts-implemented-max-age-less-than-six-months" => -10,
        "hsts-not-implemented"
        | "hsts-header-invalid"
        | "hsts-not-implemented-no-https"
        | "hsts-invalid-cert" => -20,
        "sri-implemented-and-all-scripts-loaded-securely"
        | "sri-implemented-and-external-scripts-loaded-securely" => 5,
        "sri-not-implemented-but-external-scripts-loaded-securely" => -5,
        "sri-implemented-but-external-scripts-not-loaded-securely" => -20,
        "sri-not-implemented-and-external-scripts-not-loaded-securely" => -50,
        "x-content-type-options-not-implemented" | "x-content-type-options-header-invalid" => -5,
        "x-frame-options-implemented-via-csp" => 5,
        "x-frame-options-not-implemented" | "x-frame-options-header-invalid" => -20,
        "corp-header-invalid" => -5,
        "corp-implemented-with-same-origin" | "corp-implemented-with-same-site" => 10,
        "html-not-parseable" => -20,
        _ => 0,
    }
}

fn test(name: &'static str, result: &'static str, pass: bool) -> TestResult {
    TestResult {
        name,
        result,
        pass,
        modifier: modifier(result),
    }
}

/// The `http-equiv` values of the graded page: CSPs and the last referrer meta.
struct Equiv {
    csp: Vec<String>,
    referrer: Option<String>,
}

fn is_html(resp: &Resp) -> bool {
    let ct = node_first(resp, "content-type").unwrap_or_default();
    let mime = ct.split(';').next().unwrap_or("");
    mime == "text/html" || mime == "application/xhtml+xml"
}

fn equiv(r: &Retrieval) -> Equiv {
    let mut e = Equiv {
        csp: Vec::new(),
        referrer: None,
    };
    if let Some(auto) = r.auto()
        && is_html(&auto.resp)
        && !auto.resp.body.is_empty()
    {
        for meta in html::tags(&auto.resp.text(), "meta") {
            let attr = |n: &str| meta.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            if let (Some(he), Some(content)) = (attr("http-equiv"), attr("content")) {
                if he.trim().to_lowercase() == "content-security-policy" && !content.is_empty() {
                    e.csp.push(content);
                }
            } else if attr("name").is_some_and(|n| n.trim().to_lowercase() == "referrer")
                && let Some(c) = attr("content").filter(|c| !c.is_empty())
            {
                e.referrer = Some(c);
            }
        }
    }
    e
}

/// Runs the ten tests in the package's order.
pub(crate) fn tests(r: &Retrieval) -> Vec<TestResult> {
    let eq = equiv(r);
    let hsts = hsts_test(r);
    vec![
        csp_test(r, &eq).0,
        cookies_test(r, hsts.pass),
        cors_test(r),
        redirection_test(r),
        referrer_test(r, &eq),
        hsts,
        sri_test(r),
        xcto_test(r),
        xfo_test(r, &eq),
        corp_test(r),
    ]
}

/// The score and grade of `tests`: 100 plus the penalties; the bonuses count only when
/// that is at least 90.
pub(crate) fn score(tests: &[TestResult]) -> (i32, &'static str) {
    let with_credit: i32 = 100 + tests.iter().map(|t| t.modifier).sum::<i32>();
    let uncurved: i32 = 100 + tests.iter().map(|t| t.modifier.min(0)).sum::<i32>();
    let score = if uncurved >= 90 {
        with_credit
    } else {
        uncurved
    }
    .max(0);
    (score, grade(score))
}

/// The grade of a score (the package's `GRADE_CHART`).
pub(crate) fn grade(score: i32) -> &'static str {
    let key = (score - score % 5).min(100);
    match key {
        100.. => "A+",
        90..=99 => "A",
        85 => "A-",
        80 => "B+",
        70..=79 => "B",
        65 => "B-",
        60 => "C+",
        50..=59 => "C",
        45 => "C-",
        40 => "D+",
        30..=39 => "D",
        25 => "D-",
        _ => "F",
    }
}

/// The grades from best to worst.
pub(crate) const GRADES: &[&str] = &[
    "A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F",
];

// ---- CSP

const DANGEROUSLY_BROAD: &[&str] = &[
    "ftp:",
    "http:",
    "https:",
    "*",
    "http://*",
    "http://*.*",
    "https://*",
    "https://*.*",
];

fn broad_or_unsafe(s: &str) -> bool {
    DANGEROUSLY_BROAD.contains(&s) || s == "'unsafe-inline'" || s == "data:"
}

fn nonce_or_hash(s: &str) -> bool {
    ["'sha256-", "'sha384-", "'sha512-", "'nonce-"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// A parsed policy: directive → sources (a set kept in insertion order).
type Csp = BTreeMap<String, Vec<String>>;

struct Source {
    source: String,
    index: usize,
    keep: bool,
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = *bytes.get(i)?;
        if b == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `pathPartMatch`; `None` where `decodeURIComponent` would throw.
fn path_part_match(a: &str, b: &str) -> Option<bool> {
    if a.is_empty() || (a == "/" && b.is_empty()) {
        return Some(true);
    }
    let exact = !a.ends_with('/');
    let mut la: Vec<&str> = a.split('/').collect();
    let lb: Vec<&str> = b.split('/').collect();
    if la.len() > lb.len() || (exact && la.len() != lb.len()) {
        return Some(false);
    }
    if !exact {
        la.pop();
    }
    for (x, y) in la.iter().zip(lb.iter()) {
        if percent_decode(x)? != percent_decode(y)? {
            return Some(false);
        }
    }
    Some(true)
}

/// The package's `parseCsp`: `None` for an invalid policy (too short, a repeated
/// directive other than `report-uri`/`report-to`). The second value: duplicates of
/// those two were seen.
fn parse_csp(list: &[String]) -> Option<(Csp, bool)> {
    let clean: Vec<String> = list
        .iter()
        .map(|s| s.replace(['\r', '\n'], "").trim().to_owned())
        .collect();
    if clean.is_empty() {
        return Some((Csp::new(), false));
    }
    if clean.iter().any(|s| s.chars().count() < 6) {
        return None;
    }
    let mut csp: BTreeMap<String, Vec<Source>> = BTreeMap::new();
    let mut dup_warnings = false;
    let many = clean.len() > 1;
    for (pi, policy) in clean.iter().enumerate() {
        let mut seen: Vec<String> = Vec::new();
        for entry in policy.split(';') {
            let mut words = entry.split_whitespace();
            let Some(first) = words.next() else {
                continue;
            };
            let directive = first.to_lowercase();
            if seen.contains(&directive) {
                if directive == "report-uri" || directive == "report-to" {
                    dup_warnings = true;
                } else {
                    return None;
                }
            } else {
                seen.push(directive.clone());
            }
            let keep = pi == 0;
            let mut values: Vec<Source> = words
                .map(|w| Source {
                    source: w.trim().to_lowercase(),
                    index: pi,
                    keep,
                })
                .collect();
            if values.is_empty() && directive.ends_with("-src") {
                values.push(Source {
                    source: "'none'".to_owned(),
                    index: pi,
                    keep,
                });
            }
            let mut combined = if pi == 0 {
                values
            } else {
                let mut c = csp.remove(&directive).unwrap_or_default();
                c.extend(values);
                c
            };
            combined.sort_by(|a, b| a.source.cmp(&b.source));
            for i in 1..combined.len() {
                let (prev_src, prev_idx) = match combined.get(i - 1) {
                    Some(p) => (p.source.clone(), p.index),
                    None => continue,
                };
                let Some(cur) = combined.get_mut(i) else {
                    continue;
                };
                if cur.index == prev_idx && cur.source.starts_with(&prev_src) {
                    cur.keep = false;
                }
                if cur.index != prev_idx && path_part_match(&prev_src, &cur.source)? {
                    cur.keep = true;
                }
            }
            let mut kept: Vec<Source> = combined.into_iter().filter(|s| s.keep).collect();
            if pi == 0 && many {
                for s in &mut kept {
                    s.keep = false;
                }
            }
            csp.insert(directive, kept);
        }
    }
    let out = csp
        .into_iter()
        .map(|(d, sources)| {
            let mut set: Vec<String> = Vec::new();
            for s in sources {
                if !set.contains(&s.source) {
                    set.push(s.source);
                }
            }
            if set.is_empty() {
                set.push("'none'".to_owned());
            }
            (d, set)
        })
        .collect();
    Some((out, dup_warnings))
}

/// The CSP test; the second value: the parsed policy has `frame-ancestors` (what the
/// X-Frame-Options test asks of it).
fn csp_test(r: &Retrieval, eq: &Equiv) -> (TestResult, bool) {
    const NAME: &str = "content-security-policy";
    let Some(auto) = r.auto() else {
        return (test(NAME, "csp-not-implemented", false), false);
    };
    let https = r.session().start.https;
    let http_csp = node_headers(&auto.resp, "content-security-policy");
    let all: Vec<String> = http_csp.iter().chain(eq.csp.iter()).cloned().collect();
    let Some((mut csp, dups)) = parse_csp(&all) else {
        return (test(NAME, "csp-header-invalid", false), false);
    };
    let header_only = parse_csp(&http_csp).map(|c| c.0).unwrap_or_default();
    let mut meta = parse_csp(&eq.csp).map(|c| c.0).unwrap_or_default();
    for d in ["frame-ancestors", "report-uri", "sandbox"] {
        meta.remove(d);
    }
    if header_only.len() + meta.len() == 0 {
        let ro = node_first(&auto.resp, "content-security-policy-report-only");
        let result = if ro.is_some_and(|v| !v.is_empty()) {
            "csp-not-implemented-but-reporting-enabled"
        } else {
            "csp-not-implemented"
        };
        return (test(NAME, result, false), false);
    }
    let star = || vec!["*".to_owned()];
    // script-src and style-src are the map's own sets (or default-src's): removals show
    // in the later checks, as in the package.
    let script_key = if csp.contains_key("script-src") {
        Some("script-src")
    } else if csp.contains_key("default-src") {
        Some("default-src")
    } else {
        None
    };
    let style_key = if csp.contains_key("style-src") {
        Some("style-src")
    } else if csp.contains_key("default-src") {
        Some("default-src")
    } else {
        None
    };
    let mut result: Option<&'static str> = None;
    for key in [script_key, style_key].into_iter().flatten() {
        if let Some(list) = csp.get_mut(key)
            && list.iter().any(|s| nonce_or_hash(s))
        {
            list.retain(|s| s != "'unsafe-inline'");
        }
    }
    let script_src = |csp: &Csp| {
        script_key
            .and_then(|k| csp.get(k).cloned())
            .unwrap_or_else(star)
    };
    let sources = script_src(&csp);
    if sources.iter().any(|s| nonce_or_hash(s)) && sources.iter().any(|s| s == "'strict-dynamic'") {
        if let Some(list) = script_key.and_then(|k| csp.get_mut(k)) {
            list.retain(|s| {
                !(DANGEROUSLY_BROAD.iter().any(|b| s.starts_with(b))
                    || s == "'self'"
                    || s == "'unsafe-inline'")
            });
        }
    } else if sources.iter().any(|s| s == "'strict-dynamic'") && result.is_none() {
        result = Some("csp-header-invalid");
    }
    let script_src = script_src(&csp);
    let style_src = style_key
        .and_then(|k| csp.get(k).cloned())
        .unwrap_or_else(star);
    let object_src = csp
        .get("object-src")
        .or_else(|| csp.get("default-src"))
        .cloned()
        .unwrap_or_else(star);
    let mut active: Vec<String> = csp
        .iter()
        .filter(|(d, _)| !matches!(d.as_str(), "img-src" | "media-src" | "script-src"))
        .flat_map(|(_, s)| s.iter().cloned())
        .collect();
    active.extend(script_src.iter().cloned());
    let passive: Vec<String> = ["img-src", "media-src"]
        .iter()
        .flat_map(|d| {
            csp.get(*d)
                .or_else(|| csp.get("default-src"))
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let mut set = |r: &'static str| {
        if result.is_none() {
            result = Some(r);
        }
    };
    if script_src.iter().any(|s| broad_or_unsafe(s))
        || object_src
            .iter()
            .any(|s| DANGEROUSLY_BROAD.contains(&s.as_str()))
    {
        set("csp-implemented-with-unsafe-inline");
    }
    let insecure = |s: &String| s.starts_with("http:") || s.starts_with("ftp:");
    if https && active.iter().any(insecure) {
        set("csp-implemented-with-insecure-scheme");
    }
    if script_src
        .iter()
        .chain(style_src.iter())
        .any(|s| s == "'unsafe-eval'")
    {
        set("csp-implemented-with-unsafe-eval");
    }
    if https && passive.iter().any(insecure) {
        set("csp-implemented-with-insecure-scheme-in-passive-content-only");
    }
    if style_src.iter().any(|s| broad_or_unsafe(s)) {
        set("csp-implemented-with-unsafe-inline-in-style-src-only");
    }
    if csp
        .get("default-src")
        .is_some_and(|d| d.len() == 1 && d.iter().any(|s| s == "'none'"))
    {
        set("csp-implemented-with-no-unsafe-default-src-none");
    } else {
        set("csp-implemented-with-no-unsafe");
    }
    let mut result = result.unwrap_or("csp-implemented-with-no-unsafe");
    let pass = matches!(
        result,
        "csp-implemented-with-no-unsafe"
            | "csp-implemented-with-no-unsafe-default-src-none"
            | "csp-implemented-with-unsafe-inline-in-style-src-only"
            | "csp-implemented-with-insecure-scheme-in-passive-content-only"
    );
    if pass && dups {
        result = "csp-implemented-but-duplicate-directives";
    }
    (
        test(NAME, result, pass),
        csp.contains_key("frame-ancestors"),
    )
}

// ---- cookies

fn invalid_same_site(raw: &str) -> bool {
    raw.trim().split(';').any(|p| {
        let mut kv = p.trim().split('=');
        let key = kv.next().unwrap_or("");
        if key.trim().to_lowercase() != "samesite" {
            return false;
        }
        match kv.next() {
            None | Some("") => true,
            Some(v) => !matches!(v.trim().to_lowercase().as_str(), "lax" | "strict" | "none"),
        }
    })
}

fn cookies_test(r: &Retrieval, hsts: bool) -> TestResult {
    const NAME: &str = "cookies";
    const ORDER: &[&str] = &[
        "cookies-without-secure-flag-but-protected-by-hsts",
        "cookies-without-secure-flag",
        "cookies-session-without-secure-flag-but-protected-by-hsts",
        "cookies-samesite-flag-invalid",
        "cookies-anticsrf-without-samesite-flag",
        "cookies-session-without-httponly-flag",
        "cookies-session-without-secure-flag",
    ];
    let rank = |r: &str| ORDER.iter().position(|o| *o == r);
    let mut result: Option<&'static str> = None;
    let mut worse = |new: &'static str| {
        result = match result {
            None => Some(new),
            Some(old) if rank(new) > rank(old) => Some(new),
            Some(old) => Some(old),
        };
    };
    if let Some(auto) = r.auto() {
        for raw in node_headers(&auto.resp, "set-cookie") {
            if invalid_same_site(&raw) {
                worse("cookies-samesite-flag-invalid");
            }
        }
    }
    let cookies: Vec<&Cookie> = r
        .session()
        .jar
        .cookies
        .iter()
        .filter(|c| !c.key.is_empty() && c.key != "heroku-session-affinity")
        .collect();
    if cookies.is_empty() {
        return test(NAME, "cookies-not-found", true);
    }
    let mut missing_same_site = false;
    for c in &cookies {
        let key = c.key.to_lowercase();
        let session = key.contains("login") || key.contains("sess");
        let anticsrf = key.contains("csrf");
        if !c.secure && c.same_site.as_deref() == Some("none") {
            worse("cookies-samesite-flag-invalid");
        }
        if !c.secure && hsts {
            worse("cookies-without-secure-flag-but-protected-by-hsts");
        } else if !c.secure {
            worse("cookies-without-secure-flag");
        }
        if anticsrf && c.same_site.is_none() {
            worse("cookies-anticsrf-without-samesite-flag");
        }
        if session && !c.secure && hsts {
            worse("cookies-session-without-secure-flag-but-protected-by-hsts");
        } else if session && !c.secure {
            worse("cookies-session-without-secure-flag");
        }
        if session && !c.http_only {
            worse("cookies-session-without-httponly-flag");
        }
        if c.same_site.is_none() {
            missing_same_site = true;
        }
    }
    let result = result.unwrap_or(if missing_same_site {
        "cookies-secure-with-httponly-sessions"
    } else {
        "cookies-secure-with-httponly-sessions-and-samesite"
    });
    let pass = matches!(
        result,
        "cookies-not-found"
            | "cookies-secure-with-httponly-sessions-and-samesite"
            | "cookies-secure-with-httponly-sessions"
    );
    test(NAME, result, pass)
}

// ---- CORS

fn cors_test(r: &Retrieval) -> TestResult {
    const NAME: &str = "cross-origin-resource-sharing";
    let acao = r
        .cors
        .as_ref()
        .and_then(|c| node_first(c, "access-control-allow-origin"))
        .filter(|v| !v.is_empty());
    let result = match acao {
        None => "cross-origin-resource-sharing-not-implemented",
        Some(v) if v.trim().to_lowercase() == "*" => {
            "cross-origin-resource-sharing-implemented-with-public-access"
        }
        // The package compares with the request's Origin read from a property Node's
        // request lacks: never equal, so never universal access.
        Some(_) => "cross-origin-resource-sharing-implemented-with-restricted-access",
    };
    test(NAME, result, true)
}

// ---- redirection

fn redirection_test(r: &Retrieval) -> TestResult {
    const NAME: &str = "redirection";
    let ok = |result: &'static str| {
        let pass = matches!(
            result,
            "redirection-not-needed-no-http"
                | "redirection-all-redirects-preloaded"
                | "redirection-to-https"
        );
        test(NAME, result, pass)
    };
    if r.http.response().is_none() {
        return ok("redirection-not-needed-no-http");
    }
    if !r.http.verified() {
        return ok("redirection-invalid-cert");
    }
    let route = &r.http.hops;
    let (Some(first), Some(last)) = (route.first(), route.last()) else {
        return ok("redirection-not-needed-no-http");
    };
    let result = if route.len() == 1 {
        "redirection-missing"
    } else if !last.url.https {
        "redirection-not-to-https"
    } else if route.get(1).is_some_and(|h| !h.url.https) {
        "redirection-not-to-https-on-initial-redirection"
    } else if !first.url.https && route.get(1).is_some_and(|h| h.url.host != first.url.host) {
        "redirection-off-host-from-http"
    } else {
        "redirection-to-https"
    };
    ok(result)
}

// ---- Referrer-Policy

fn referrer_test(r: &Retrieval, eq: &Equiv) -> TestResult {
    const NAME: &str = "referrer-policy";
    const GOOD: &[&str] = &[
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    ];
    const BAD: &[&str] = &[
        "origin",
        "origin-when-cross-origin",
        "unsafe-url",
        "no-referrer-when-downgrade",
    ];
    let Some(auto) = r.auto() else {
        return test(NAME, "referrer-policy-not-implemented", false);
    };
    let mut values = node_headers(&auto.resp, "referrer-policy");
    values.extend(eq.referrer.iter().cloned());
    if values.is_empty() {
        return test(NAME, "referrer-policy-not-implemented", true);
    }
    let data = values.join(", ");
    let policy = data
        .split(',')
        .map(|e| e.trim().to_lowercase())
        .rfind(|e| GOOD.contains(&e.as_str()) || BAD.contains(&e.as_str()))
        .unwrap_or_default();
    if GOOD.contains(&policy.as_str()) {
        test(NAME, "referrer-policy-private", true)
    } else if BAD.contains(&policy.as_str()) {
        test(NAME, "referrer-policy-unsafe", false)
    } else {
        test(NAME, "referrer-policy-header-invalid", false)
    }
}

// ---- HSTS

/// JavaScript's `parseInt(s, 10)`: leading whitespace, a sign, digits; `None` is NaN.
fn js_parse_int(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let n: i64 = digits.get(..end)?.parse().ok()?;
    Some(if neg { -n } else { n })
}

/// The parsed HSTS header of the https response: (max-age, includeSubDomains, preload).
pub(crate) struct HstsHeader {
    pub(crate) max_age: Option<i64>,
    pub(crate) include_subdomains: bool,
    pub(crate) preload: bool,
}

/// Parses an HSTS value as the package does; `None` when it calls it invalid.
pub(crate) fn parse_hsts(value: &str) -> Option<HstsHeader> {
    let data: String = value.chars().take(1024).collect();
    if data.contains(',') {
        return None;
    }
    let mut h = HstsHeader {
        max_age: None,
        include_subdomains: false,
        preload: false,
    };
    let mut nan = false;
    for p in data.split(';').map(|p| p.trim().to_lowercase()) {
        if let Some(age) = p.strip_prefix("max-age=") {
            let age: String = age.chars().take(120).collect();
            match js_parse_int(&age) {
                Some(a) => {
                    h.max_age = Some(a);
                    nan = false;
                }
                None => nan = true,
            }
        } else if p == "includesubdomains" {
            h.include_subdomains = true;
        } else if p == "preload" {
            h.preload = true;
        }
    }
    // NaN is not null and not below six months: the package calls it at least six.
    if nan {
        h.max_age = Some(i64::MAX);
    }
    h.max_age.map(|_| h)
}

fn hsts_test(r: &Retrieval) -> TestResult {
    const NAME: &str = "strict-transport-security";
    let Some(https) = r.https.response() else {
        return test(NAME, "hsts-not-implemented-no-https", false);
    };
    if !r.https.verified() {
        return test(NAME, "hsts-invalid-cert", false);
    }
    let Some(value) = node_first(&https.resp, "strict-transport-security") else {
        return test(NAME, "hsts-not-implemented", false);
    };
    match parse_hsts(&value).and_then(|h| h.max_age) {
        None => test(NAME, "hsts-header-invalid", false),
        Some(a) if a < 15_552_000 => {
            test(NAME, "hsts-implemented-max-age-less-than-six-months", false)
        }
        Some(_) => test(NAME, "hsts-implemented-max-age-at-least-six-months", true),
    }
}

// ---- subresource integrity

/// The registrable domain, approximated as the last two labels (none for IPs and
/// single-label names).
fn site_of(host: &str) -> Option<String> {
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    if labels.len() < 2 {
        return None;
    }
    Some(labels[labels.len() - 2..].join(".").to_lowercase())
}

fn sri_test(r: &Retrieval) -> TestResult {
    const NAME: &str = "subresource-integrity";
    const ORDER: &[&str] = &[
        "sri-implemented-and-all-scripts-loaded-securely",
        "sri-implemented-and-external-scripts-loaded-securely",
        "sri-implemented-but-external-scripts-not-loaded-securely",
        "sri-not-implemented-but-external-scripts-loaded-securely",
        "sri-not-implemented-and-external-scripts-not-loaded-securely",
        "sri-not-implemented-response-not-html",
    ];
    let finish = |result: &'static str| {
        let pass = matches!(
            result,
            "sri-implemented-and-all-scripts-loaded-securely"
                | "sri-implemented-and-external-scripts-loaded-securely"
                | "sri-not-implemented-response-not-html"
                | "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
                | "sri-not-implemented-but-no-scripts-loaded"
        );
        test(NAME, result, pass)
    };
    let Some(auto) = r.auto() else {
        return finish("sri-not-implemented-but-no-scripts-loaded");
    };
    if !is_html(&auto.resp) {
        return finish("sri-not-implemented-response-not-html");
    }
    let https_page = r.session().start.https;
    let own_site = site_of(&r.host);
    let rank = |x: &str| ORDER.iter().position(|o| *o == x);
    let mut result: Option<&'static str> = None;
    let worse = |result: &mut Option<&'static str>, new: &'static str| {
        *result = match *result {
            None => Some(new),
            Some(old) if rank(new) > rank(old) => Some(new),
            Some(old) => Some(old),
        };
    };
    let scripts = html::tags(&auto.resp.text(), "script");
    let mut foreign = false;
    for attrs in &scripts {
        let attr = |n: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.trim().to_owned())
        };
        let Some(src) = attr("src").filter(|s| !s.is_empty()) else {
            continue;
        };
        let integrity = attr("integrity").filter(|s| !s.is_empty());
        let lower = src.to_lowercase();
        let (relative_origin, relative_protocol, same_site) =
            if src.starts_with("//") && src.chars().nth(2).is_some_and(|c| c != '/') {
                (false, true, true)
            } else if src.starts_with("http://") || src.starts_with("https://") {
                let host = Url::parse(&src).map(|u| u.host).unwrap_or_default();
                (false, false, site_of(&host) == own_site)
            } else {
                (true, false, true)
            };
        let secure_origin = relative_origin || (same_site && !relative_protocol);
        if !secure_origin {
            foreign = true;
        }
        let secure_scheme = (!relative_protocol && !relative_origin && lower.starts_with("https:"))
            || (relative_origin && https_page);
        if !secure_origin {
            match (integrity.is_some(), secure_scheme) {
                (true, false) => worse(
                    &mut result,
                    "sri-implemented-but-external-scripts-not-loaded-securely",
                ),
                (false, true) => worse(
                    &mut result,
                    "sri-not-implemented-but-external-scripts-loaded-securely",
                ),
                (false, false) => worse(
                    &mut result,
                    "sri-not-implemented-and-external-scripts-not-loaded-securely",
                ),
                (true, true) => {}
            }
        } else if integrity.is_some() && secure_scheme && result.is_none() {
            result = Some("sri-implemented-and-all-scripts-loaded-securely");
        }
    }
    if scripts.is_empty() {
        return finish("sri-not-implemented-but-no-scripts-loaded");
    }
    finish(result.unwrap_or(if foreign {
        "sri-implemented-and-external-scripts-loaded-securely"
    } else {
        "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
    }))
}

// ---- X-Content-Type-Options, X-Frame-Options, CORP

fn xcto_test(r: &Retrieval) -> TestResult {
    const NAME: &str = "x-content-type-options";
    let v = r
        .auto()
        .and_then(|a| node_first(&a.resp, "x-content-type-options"))
        .filter(|v| !v.is_empty());
    match v {
        None => test(NAME, "x-content-type-options-not-implemented", false),
        Some(v)
            if v.chars()
                .take(256)
                .collect::<String>()
                .trim()
                .to_lowercase()
                == "nosniff" =>
        {
            test(NAME, "x-content-type-options-nosniff", true)
        }
        Some(_) => test(NAME, "x-content-type-options-header-invalid", false),
    }
}

fn xfo_test(r: &Retrieval, eq: &Equiv) -> TestResult {
    const NAME: &str = "x-frame-options";
    let Some(auto) = r.auto() else {
        return test(NAME, "x-frame-options-not-implemented", false);
    };
    let mut result = match node_first(&auto.resp, "x-frame-options").filter(|v| !v.is_empty()) {
        None => "x-frame-options-not-implemented",
        Some(v) => {
            let v: String = v
                .chars()
                .take(1024)
                .collect::<String>()
                .trim()
                .to_lowercase();
            if v == "deny" || v == "sameorigin" {
                "x-frame-options-sameorigin-or-deny"
            } else if v.starts_with("allow-from") {
                "x-frame-options-allow-from-origin"
            } else {
                "x-frame-options-header-invalid"
            }
        }
    };
    if csp_test(r, eq).1 {
        result = "x-frame-options-implemented-via-csp";
    }
    let pass = !matches!(
        result,
        "x-frame-options-not-implemented" | "x-frame-options-header-invalid"
    );
    test(NAME, result, pass)
}

fn corp_test(r: &Retrieval) -> TestResult {
    const NAME: &str = "cross-origin-resource-policy";
    let v = r
        .auto()
        .and_then(|a| node_first(&a.resp, "cross-origin-resource-policy"))
        .filter(|v| !v.is_empty());
    let result = match v.map(|v| {
        v.chars()
            .take(256)
            .collect::<String>()
            .trim()
            .to_lowercase()
    }) {
        None => "corp-not-implemented",
        Some(v) => match v.as_str() {
            "same-site" => "corp-implemented-with-same-site",
            "same-origin" => "corp-implemented-with-same-origin",
            "cross-origin" => "corp-implemented-with-cross-origin",
            "" => "corp-not-implemented",
            _ => "corp-header-invalid",
        },
    };
    test(NAME, result, result != "corp-header-invalid")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod unit {
    use super::*;

    fn csp(s: &[&str]) -> Option<Csp> {
        parse_csp(&s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).map(|c| c.0)
    }

    #[test]
    fn csp_parser_follows_the_package() {
        let c = csp(&["default-src 'none'; script-src 'self' 'self' https://a.test/x https://a.test/xy; img-src"]).unwrap();
        assert_eq!(c["default-src"], ["'none'"]);
        assert_eq!(c["script-src"], ["'self'", "https://a.test/x"]);
        assert_eq!(c["img-src"], ["'none'"]);
        assert!(csp(&["default-src 'self'; default-src 'none'"]).is_none());
        assert!(csp(&["a"]).is_none());
        let (_, dups) =
            parse_csp(&["default-src 'self'; report-uri /a; report-uri /b".to_owned()]).unwrap();
        assert!(dups);
        // Two policies: a source must be in both.
        let c = csp(&[
            "script-src 'self' https://a.test/",
            "script-src https://a.test/js/x.js",
        ])
        .unwrap();
        assert_eq!(c["script-src"], ["https://a.test/js/x.js"]);
    }

    #[test]
    fn grades_and_scores() {
        assert_eq!(grade(135), "A+");
        assert_eq!(grade(99), "A");
        assert_eq!(grade(87), "A-");
        assert_eq!(grade(75), "B");
        assert_eq!(grade(0), "F");
        let t = |m: i32| TestResult {
            name: "x",
            result: "y",
            pass: true,
            modifier: m,
        };
        // Bonuses count only from an uncurved 90.
        assert_eq!(score(&[t(-10), t(10)]).0, 100);
        assert_eq!(score(&[t(-15), t(10)]).0, 85);
    }

    #[test]
    fn cookies_follow_tough_cookie() {
        let url = Url::parse("https://localhost/a/b").unwrap();
        let mut jar = Jar::default();
        jar.set("__Host-x=1; Secure; Path=/", &url);
        jar.set("__Host-y=1; Secure; Path=/; Domain=localhost", &url);
        jar.set("__Secure-z=1", &url);
        jar.set("other=1; Domain=example.com", &url);
        jar.set("sid=1; SameSite=bogus", &url);
        jar.set("=novalue", &url);
        let keys: Vec<_> = jar.cookies.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["__Host-x", "sid"]);
        assert_eq!(jar.cookies[1].path, "/a");
        assert_eq!(jar.cookies[1].same_site, None);
        assert!(invalid_same_site("a=1; SameSite=bogus"));
        assert!(!invalid_same_site("a=1; SameSite=Lax"));
    }

    #[test]
    fn hsts_values_as_javascript_reads_them() {
        assert_eq!(
            parse_hsts("max-age=300; preload").unwrap().max_age,
            Some(300)
        );
        assert!(parse_hsts("max-age=1, max-age=2").is_none());
        assert!(parse_hsts("includeSubDomains").is_none());
        assert_eq!(parse_hsts("max-age=abc").unwrap().max_age, Some(i64::MAX));
        assert_eq!(parse_hsts("max-age=12x").unwrap().max_age, Some(12));
    }
}
