//! The probes the Observatory does not make, and the findings they lead to: CORS
//! origin reflection, Host header trust, Django's debug pages, version strings,
//! cookies, HSTS and its preload eligibility, the http → https redirect, the TLS
//! certificate, the cross-site POST (`--csrf-probe`) and drift from a configuration.

use serde::Serialize;

use super::client::{Client, Req, Resp, TlsInfo, Url};
use super::observatory::{self, Retrieval, parse_cookie, parse_hsts};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    /// The JSON name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }
}

/// The request that showed a finding and what came back.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Evidence {
    pub(crate) request: String,
    pub(crate) response: String,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Finding {
    pub(crate) id: &'static str,
    pub(crate) severity: Severity,
    pub(crate) title: String,
    pub(crate) evidence: Evidence,
    pub(crate) fix: String,
}

/// Every finding id, with what it means (the SARIF rules).
pub(crate) const IDS: &[(&str, &str)] = &[
    (
        "cors-origin-reflected",
        "A foreign Origin is echoed in Access-Control-Allow-Origin",
    ),
    (
        "cors-null-origin-allowed",
        "The Origin `null` is allowed by CORS",
    ),
    (
        "host-header-trusted",
        "A foreign Host header is answered and trusted",
    ),
    (
        "django-debug-page",
        "Django's technical error page is served (DEBUG = True)",
    ),
    (
        "version-disclosed",
        "A Server or X-Powered-By header names a version",
    ),
    (
        "cookie-missing-secure",
        "A session or CSRF cookie is sent without Secure",
    ),
    (
        "cookie-missing-httponly",
        "A session cookie is readable by scripts (no HttpOnly)",
    ),
    (
        "cookie-missing-samesite",
        "A session or CSRF cookie has no SameSite",
    ),
    (
        "cookie-prefix-broken",
        "A __Host- or __Secure- cookie breaks its prefix's rules",
    ),
    ("hsts-missing", "No Strict-Transport-Security on https"),
    (
        "hsts-not-preload-eligible",
        "HSTS does not meet the preload list's rules",
    ),
    (
        "no-https-redirect",
        "http:// is not redirected to https:// on the same host first",
    ),
    (
        "tls-certificate-expiring",
        "The certificate expires within 21 days",
    ),
    (
        "tls-certificate-invalid",
        "The certificate chain does not verify",
    ),
    (
        "csrf-cross-site-post-accepted",
        "A cross-site POST is accepted",
    ),
    (
        "policy-drift",
        "The running site departs from its configuration's policy",
    ),
];

/// What the site is, for fixes that name the right setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stack {
    Hardened,
    Django,
    Other,
}

impl Stack {
    fn fix(self, hardened: &str, django: &str, other: &str) -> String {
        match self {
            Stack::Hardened => hardened.to_owned(),
            Stack::Django => django.to_owned(),
            Stack::Other => other.to_owned(),
        }
    }
}

/// Guesses the stack from the graded response and a config given with `--config`.
pub(crate) fn stack(r: &Retrieval, config: bool) -> Stack {
    if config {
        return Stack::Hardened;
    }
    // Django's CSRF cookie (`csrftoken`) is the tell; a `sessionid` alone is not.
    let django = r.http.hops.iter().chain(r.https.hops.iter()).any(|h| {
        h.resp
            .all("set-cookie")
            .iter()
            .any(|c| c.split('=').next().unwrap_or("").trim() == "csrftoken")
    });
    if django { Stack::Django } else { Stack::Other }
}

/// Collects findings.
pub(crate) struct Probe<'a> {
    pub(crate) client: &'a Client,
    pub(crate) retrieval: &'a Retrieval,
    pub(crate) stack: Stack,
    pub(crate) findings: Vec<Finding>,
}

fn ev(req: &Req, resp: &Resp, names: &[&str]) -> Evidence {
    Evidence {
        request: req.describe(),
        response: resp.describe(names),
    }
}

const CORS_HEADERS: &[&str] = &[
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
];

/// The outcome of one CORS probe (for drift).
pub(crate) struct CorsSeen {
    pub(crate) origin: String,
    pub(crate) allowed: bool,
    pub(crate) evidence: Evidence,
}

impl Probe<'_> {
    fn add(
        &mut self,
        id: &'static str,
        severity: Severity,
        title: String,
        evidence: Evidence,
        fix: String,
    ) {
        self.findings.push(Finding {
            id,
            severity,
            title,
            evidence,
            fix,
        });
    }

    /// The page graded: its URL.
    fn page(&self) -> Option<Url> {
        self.retrieval.auto().map(|h| h.url.clone())
    }

    /// CORS: foreign origins, `null`, look-alikes, the http downgrade, preflights for
    /// PUT and DELETE. Returns what each probe saw.
    pub(crate) async fn cors(&mut self) -> Vec<CorsSeen> {
        let Some(page) = self.page() else {
            return Vec::new();
        };
        let host = page.host.clone();
        let own_http = format!("http://{}", page.authority());
        let mut origins = vec![
            "https://evil.test".to_owned(),
            "null".to_owned(),
            format!("https://{host}.evil.test"),
            format!("https://evil{host}"),
        ];
        // The http:// downgrade of an https site's own origin (on an http site it is
        // the site's own origin).
        if page.https {
            origins.push(own_http);
        }
        let mut seen = Vec::new();
        let mut reqs: Vec<(Req, String)> = origins
            .iter()
            .map(|o| (Req::get(&page).header("origin", o), o.clone()))
            .collect();
        for m in ["PUT", "DELETE"] {
            let mut r = Req::get(&page)
                .header("origin", "https://evil.test")
                .header("access-control-request-method", m);
            r.method = http::Method::OPTIONS;
            reqs.push((r, "https://evil.test".to_owned()));
        }
        let mut reflected: Vec<(String, bool, Evidence)> = Vec::new();
        for (req, origin) in reqs {
            let Ok(resp) = self.client.send(&req).await else {
                continue;
            };
            let acao = resp
                .first("access-control-allow-origin")
                .unwrap_or("")
                .trim();
            let creds = resp
                .first("access-control-allow-credentials")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
            let allowed = acao == origin || (acao == "*" && origin != "null");
            let evidence = ev(&req, &resp, CORS_HEADERS);
            seen.push(CorsSeen {
                origin: origin.clone(),
                allowed: acao == origin,
                evidence: evidence.clone(),
            });
            if acao == origin {
                reflected.push((origin, creds, evidence));
            } else if !allowed {
                continue;
            }
        }
        let fix_cors = self.stack.fix(
            "allow only the origins the site needs: `security_domains` derives them (list \
             `https://` entries); drop loose `cors_allowed_origin_regexes`",
            "set CORS_ALLOWED_ORIGINS to the exact origins (django-cors-headers) and never \
             CORS_ALLOW_ALL_ORIGINS with CORS_ALLOW_CREDENTIALS",
            "answer Access-Control-Allow-Origin only for an allow-list of exact origins; \
             never echo the request's Origin",
        );
        if let Some((_, _, e)) = reflected.iter().find(|(o, _, _)| o == "null") {
            let creds = reflected.iter().any(|(o, c, _)| o == "null" && *c);
            self.add(
                "cors-null-origin-allowed",
                if creds {
                    Severity::High
                } else {
                    Severity::Medium
                },
                format!(
                    "the Origin `null` (sandboxed iframes, file: pages) is allowed{}",
                    if creds { " with credentials" } else { "" }
                ),
                e.clone(),
                fix_cors.clone(),
            );
        }
        let foreign: Vec<&(String, bool, Evidence)> =
            reflected.iter().filter(|(o, _, _)| o != "null").collect();
        let mut list: Vec<&str> = Vec::new();
        for (o, _, _) in &foreign {
            if !list.contains(&o.as_str()) {
                list.push(o);
            }
        }
        if let Some((_, _, e)) = foreign.first() {
            let creds = foreign.iter().any(|(_, c, _)| *c);
            self.add(
                "cors-origin-reflected",
                if creds {
                    Severity::Critical
                } else {
                    Severity::Medium
                },
                format!(
                    "foreign origins are echoed in Access-Control-Allow-Origin{}: {}",
                    if creds {
                        " with Access-Control-Allow-Credentials: true (any site reads \
                         signed-in users' data)"
                    } else {
                        ""
                    },
                    list.join(", ")
                ),
                e.clone(),
                fix_cors,
            );
        }
        seen
    }

    /// Host header trust: `Host: evil.test` answered 2xx/3xx, the host in Location or
    /// the body. Returns the status (for drift) and the evidence.
    pub(crate) async fn host(&mut self) -> Option<(u16, Evidence)> {
        let page = self.page()?;
        let req = Req::get(&page).header("host", "evil.test");
        let resp = self.client.send(&req).await.ok()?;
        let evidence = ev(&req, &resp, &["location"]);
        let ok = (200..400).contains(&resp.status);
        let in_location = resp
            .first("location")
            .is_some_and(|l| l.contains("evil.test"));
        let in_body = resp.text().contains("evil.test");
        let fix = self.stack.fix(
            "list the site's domains in `security_domains` (allowed hosts derive from it) and \
             put `hardened serve` (or the layer) in front of every route",
            "set ALLOWED_HOSTS to the site's domains (never '*') and keep USE_X_FORWARDED_HOST \
             = False unless the proxy sets it",
            "answer only the site's own names: a default server that returns 400/444 for any \
             other Host (nginx: `server_name` plus a `default_server` block)",
        );
        if ok && (in_location || in_body) {
            let mut evidence = evidence.clone();
            if in_body && !in_location {
                evidence.response.push_str("; body contains \"evil.test\"");
            }
            self.add(
                "host-header-trusted",
                Severity::Critical,
                "a foreign Host header is answered and written back into the response \
                 (password-reset and cache poisoning)"
                    .to_owned(),
                evidence,
                fix,
            );
        } else if ok {
            self.add(
                "host-header-trusted",
                Severity::Medium,
                "a foreign Host header is answered (the application sees a host it does not own)"
                    .to_owned(),
                evidence.clone(),
                fix,
            );
        }
        Some((resp.status, evidence))
    }

    /// Django's technical 404 page (DEBUG = True).
    pub(crate) async fn debug_page(&mut self) {
        let Some(page) = self.page() else {
            return;
        };
        let mut rnd = [0u8; 6];
        let _ = getrandom::fill(&mut rnd);
        let tag: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
        let url = page.with_scheme(page.https, &format!("/hardened-audit-{tag}/"));
        let url = Url {
            port: page.port,
            ..url
        };
        let req = Req::get(&url);
        let Ok(resp) = self.client.send(&req).await else {
            return;
        };
        let body = resp.text();
        if body.contains("DEBUG = True") && body.contains("Django") {
            let mut evidence = ev(&req, &resp, &["content-type"]);
            evidence
                .response
                .push_str("; body: Django's technical page (\"DEBUG = True\")");
            self.add(
                "django-debug-page",
                Severity::High,
                "Django's debug page is served: settings, URL patterns and tracebacks are \
                 public"
                    .to_owned(),
                evidence,
                "set DEBUG = False in production (with `hardened`: `debug: false`, which \
                 `environment: production` requires)"
                    .to_owned(),
            );
        }
    }

    /// Server / X-Powered-By version strings on the graded response.
    pub(crate) fn versions(&mut self) {
        let Some(auto) = self.retrieval.auto() else {
            return;
        };
        for name in ["server", "x-powered-by"] {
            for v in auto.resp.all(name) {
                if v.chars().any(|c| c.is_ascii_digit()) {
                    self.add(
                        "version-disclosed",
                        Severity::Low,
                        format!("the {name} header names a version: {v}"),
                        Evidence {
                            request: format!("GET {}", auto.url),
                            response: auto.resp.describe(&[name]),
                        },
                        "drop the version (nginx: `server_tokens off;`; gunicorn: a proxy \
                         in front; frameworks: remove X-Powered-By)"
                            .to_owned(),
                    );
                }
            }
        }
    }

    /// Cookies of the graded chain: session-like and CSRF cookies' flags, prefixes.
    pub(crate) fn cookies(&mut self) {
        let https = self.retrieval.auto_https;
        let session = self.retrieval.session();
        let mut seen: Vec<String> = Vec::new();
        let hops: Vec<_> = session.hops.clone();
        for hop in &hops {
            for raw in hop.resp.all("set-cookie") {
                let Some(c) = parse_cookie(raw) else {
                    continue;
                };
                if seen.contains(&c.key) {
                    continue;
                }
                seen.push(c.key.clone());
                let evidence = Evidence {
                    request: format!("GET {}", hop.url),
                    response: format!(
                        "{} {}; set-cookie: {}",
                        hop.resp.version,
                        hop.resp.status,
                        redact_cookie(raw)
                    ),
                };
                let key = c.key.to_lowercase();
                let is_csrf = key.contains("csrf") || key.contains("xsrf");
                let is_session = !is_csrf
                    && ["sess", "sid", "login", "auth", "token", "jwt"]
                        .iter()
                        .any(|k| key.contains(k));
                let name = c.key.clone();
                let stack = self.stack;
                let set = |h: &str, d: &str| stack.fix(h, d, "");
                if (is_session || is_csrf) && !c.secure && https {
                    let fix = if is_session {
                        set(
                            "`secure_cookies: true` (the production default)",
                            "SESSION_COOKIE_SECURE = True",
                        )
                    } else {
                        set(
                            "`secure_cookies: true` (the production default)",
                            "CSRF_COOKIE_SECURE = True",
                        )
                    };
                    self.add(
                        "cookie-missing-secure",
                        if is_session { Severity::High } else { Severity::Medium },
                        format!("the {} cookie `{name}` is sent without Secure (it leaks over plain HTTP)", if is_session { "session" } else { "CSRF" }),
                        evidence.clone(),
                        with_default(fix, "add `Secure` to the Set-Cookie"),
                    );
                }
                if is_session && !c.http_only {
                    self.add(
                        "cookie-missing-httponly",
                        Severity::Medium,
                        format!("the session cookie `{name}` is readable by scripts (no HttpOnly)"),
                        evidence.clone(),
                        with_default(
                            set(
                                "`session_cookie_name` names it, so the policy adds HttpOnly",
                                "SESSION_COOKIE_HTTPONLY = True",
                            ),
                            "add `HttpOnly` to the Set-Cookie",
                        ),
                    );
                }
                if (is_session || is_csrf) && c.same_site.is_none() {
                    self.add(
                        "cookie-missing-samesite",
                        Severity::Low,
                        format!(
                            "the {} cookie `{name}` has no valid SameSite",
                            if is_session { "session" } else { "CSRF" }
                        ),
                        evidence.clone(),
                        with_default(
                            set(
                                "production adds `SameSite=Lax` to every cookie without one",
                                if is_session {
                                    "SESSION_COOKIE_SAMESITE = 'Lax'"
                                } else {
                                    "CSRF_COOKIE_SAMESITE = 'Lax'"
                                },
                            ),
                            "add `SameSite=Lax` (or Strict) to the Set-Cookie",
                        ),
                    );
                }
                let host_broken = c.key.starts_with("__Host-")
                    && (!c.secure || !c.domain.is_empty() || c.path != "/");
                let secure_broken = c.key.starts_with("__Secure-") && !c.secure;
                if host_broken || secure_broken {
                    self.add(
                        "cookie-prefix-broken",
                        Severity::Medium,
                        format!("the cookie `{name}` breaks its prefix's rules: browsers drop it"),
                        evidence,
                        "`__Secure-` needs Secure; `__Host-` needs Secure, Path=/ and no Domain"
                            .to_owned(),
                    );
                }
            }
        }
    }

    /// HSTS on https, and the preload list's rules.
    pub(crate) fn hsts(&mut self) {
        let r = self.retrieval;
        let Some(https) = r.https.response() else {
            return;
        };
        let request = format!("GET {}", https.url);
        let fix = self.stack.fix(
            "HSTS is sent on https in production: check `ssl_redirect`/the proxy header and \
             `hsts.seconds` (31536000)",
            "SECURE_HSTS_SECONDS = 31536000 (with SECURE_HSTS_INCLUDE_SUBDOMAINS and \
             SECURE_HSTS_PRELOAD when every subdomain is on https)",
            "send `Strict-Transport-Security: max-age=31536000; includeSubDomains` on every \
             https response",
        );
        let Some(value) = https.resp.first("strict-transport-security") else {
            self.add(
                "hsts-missing",
                Severity::High,
                "no Strict-Transport-Security header on https: a first visit over http can be \
                 intercepted"
                    .to_owned(),
                Evidence {
                    request,
                    response: https.resp.describe(&["strict-transport-security"]),
                },
                fix,
            );
            return;
        };
        let mut missing = Vec::new();
        match parse_hsts(value) {
            None => missing.push("a valid header (one max-age, no commas)".to_owned()),
            Some(h) => {
                if h.max_age.unwrap_or(0) < 31_536_000 {
                    missing.push("max-age of at least 31536000".to_owned());
                }
                if !h.include_subdomains {
                    missing.push("includeSubDomains".to_owned());
                }
                if !h.preload {
                    missing.push("preload".to_owned());
                }
            }
        }
        let labels = r.host.split('.').count();
        if labels != 2 || r.host.parse::<std::net::IpAddr>().is_ok() {
            missing.push(format!("served on the base domain ({} is not one)", r.host));
        }
        let first_redirect_ok = r
            .http
            .hops
            .get(1)
            .is_some_and(|h| h.url.https && h.url.host == r.host);
        if r.http.response().is_some() && !first_redirect_ok {
            missing.push("http redirecting to https on the same host first".to_owned());
        }
        if !missing.is_empty() {
            self.add(
                "hsts-not-preload-eligible",
                Severity::Info,
                format!("not eligible for the HSTS preload list: needs {}", missing.join(", ")),
                Evidence {
                    request,
                    response: https.resp.describe(&["strict-transport-security"]),
                },
                self.stack.fix(
                    "`hsts: {seconds: 31536000, include_subdomains: true, preload: true}` once every subdomain serves https",
                    "SECURE_HSTS_SECONDS = 31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS = True, SECURE_HSTS_PRELOAD = True once every subdomain serves https",
                    "`max-age=31536000; includeSubDomains; preload` on the base domain, once every subdomain serves https",
                ),
            );
        }
    }

    /// http:// redirected to https:// on the same host first.
    pub(crate) fn redirect(&mut self) {
        let r = self.retrieval;
        let Some(first) = r.http.hops.first() else {
            return;
        };
        if r.https.response().is_none() {
            return;
        }
        let second = r.http.hops.get(1);
        let ok = second.is_some_and(|h| h.url.https && h.url.host == first.url.host);
        if !ok {
            self.add(
                "no-https-redirect",
                Severity::High,
                match second {
                    None => "http:// is served without a redirect to https://".to_owned(),
                    Some(h) => format!(
                        "http:// redirects to {} first, not to https:// on the same host",
                        h.url
                    ),
                },
                Evidence {
                    request: format!("GET {}", first.url),
                    response: first.resp.describe(&["location"]),
                },
                self.stack.fix(
                    "`ssl_redirect: true` with direct TLS (or the proxy's redirect behind one)",
                    "SECURE_SSL_REDIRECT = True (or the proxy's redirect)",
                    "answer every http:// request with 301 to the same URL on https://",
                ),
            );
        }
    }

    /// The certificate: verification (with `--insecure`) and days to expiry.
    pub(crate) fn tls(&mut self, info: &TlsInfo, url: &Url) {
        let request = format!("TLS handshake with {}", url.authority());
        if let Some(e) = &info.verify_error {
            self.add(
                "tls-certificate-invalid",
                Severity::Critical,
                format!("the certificate does not verify for {}: {e}", info.name),
                Evidence {
                    request: request.clone(),
                    response: format!("{} {}", info.version, info.cipher),
                },
                "serve a chain from a trusted CA for this name, leaf first with its \
                 intermediates"
                    .to_owned(),
            );
        }
        if let Some(days) = info.leaf.as_deref().and_then(days_left)
            && days < 21
        {
            self.add(
                "tls-certificate-expiring",
                if days < 7 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                format!("the certificate expires in {days} days"),
                Evidence {
                    request,
                    response: format!("notAfter in {days} days"),
                },
                "renew the certificate (automate it: ACME renews 30 days ahead)".to_owned(),
            );
        }
    }

    /// `--csrf-probe PATH`: a cross-site POST must be refused, a same-origin one not.
    pub(crate) async fn csrf(&mut self, path: &str) -> Option<String> {
        let page = self.page()?;
        let mut url = page.clone();
        url.path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let post = |origin: &str| {
            let mut r = Req::get(&url)
                .header("origin", origin)
                .header("referer", &format!("{origin}/"))
                .header("content-type", "application/x-www-form-urlencoded");
            r.method = http::Method::POST;
            r.body = Some(bytes::Bytes::from_static(b"hardened-audit=1"));
            r
        };
        let foreign = post("https://evil.test");
        let own = post(&page.origin());
        let cross = self.client.send(&foreign).await.ok()?;
        let same = self.client.send(&own).await.ok();
        if (200..400).contains(&cross.status) {
            self.add(
                "csrf-cross-site-post-accepted",
                Severity::High,
                format!("a POST to {} from https://evil.test was accepted ({})", url.path, cross.status),
                ev(&foreign, &cross, &["location"]),
                self.stack.fix(
                    "keep CSRF checks on (`csrf_exempt_paths` must not list it); trusted origins derive from `security_domains`",
                    "keep CsrfViewMiddleware and drop @csrf_exempt; CSRF_TRUSTED_ORIGINS lists only the site's origins",
                    "refuse state-changing requests whose Origin is not the site's (and check a CSRF token)",
                ),
            );
        }
        same.map(|s| {
            format!(
                "cross-site POST answered {}, same-origin POST answered {}{}",
                cross.status,
                s.status,
                if (200..400).contains(&s.status) {
                    ""
                } else {
                    " (refused too: it carries no CSRF token, so only the cross-site refusal is shown)"
                }
            )
        })
    }
}

/// A Set-Cookie value with its value replaced by its length: the report shows the
/// attributes, never a session id.
pub(crate) fn redact_cookie(raw: &str) -> String {
    let (pair, attrs) = raw.split_once(';').unwrap_or((raw, ""));
    let pair = match pair.split_once('=') {
        Some((name, value)) => format!("{}=<{} bytes>", name.trim(), value.trim().len()),
        None => pair.trim().to_owned(),
    };
    if attrs.is_empty() {
        pair
    } else {
        format!("{pair};{attrs}")
    }
}

fn with_default(fix: String, default: &str) -> String {
    if fix.is_empty() {
        default.to_owned()
    } else {
        fix
    }
}

/// Days until the certificate's notAfter (negative when expired).
pub(crate) fn days_left(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    let now = i64::try_from(now).ok()?;
    Some((not_after - now).div_euclid(86_400))
}

/// The Observatory's result codes that reaching A+ needs changed, worst first.
pub(crate) fn to_a_plus(tests: &[observatory::TestResult]) -> Vec<String> {
    let mut bad: Vec<&observatory::TestResult> = tests.iter().filter(|t| t.modifier < 0).collect();
    bad.sort_by_key(|t| t.modifier);
    bad.iter()
        .map(|t| format!("{}: {} ({})", t.name, t.result, t.modifier))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cookie_values_are_redacted() {
        assert_eq!(
            super::redact_cookie("sessionid=abc123; Path=/; Secure"),
            "sessionid=<6 bytes>; Path=/; Secure"
        );
        assert_eq!(super::redact_cookie("a=b"), "a=<1 bytes>");
    }
}
