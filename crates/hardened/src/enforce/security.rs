//! [`Security`]: the policy compiled into per-check rules, the decision pipeline over
//! a [`RequestHead`], and the response work.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::header::{self, HeaderMap, HeaderValue};
use http::{StatusCode, request};

use super::cookies;
use super::cors::CorsCheck;
use super::csrf::CsrfCheck;
use super::decision::{Answer, Checks, Client, Decision, Facts, Rejection};
use super::fetch_metadata::FetchMetadataCheck;
use super::grpc;
use super::headers::{SecurityHeaders, header_value};
use super::host::HostCheck;
use super::matcher::{OriginMatcher, PathSet};
use super::request::{MethodClass, RequestHead};
use super::routes::{RouteMark, RouteTable};
use super::tls::TlsCheck;
use super::websocket;
use crate::config::{Config, ConfigErrors, ReportOnly};
use crate::policy::{self, CookieRules, Policy, ProxySslHeader, ProxyTrust};
use crate::probe::RuntimeProbe;

#[derive(Debug)]
struct Inner {
    policy: Policy,
    host: HostCheck,
    tls: TlsCheck,
    cors: CorsCheck,
    csrf: CsrfCheck,
    fetch_metadata: FetchMetadataCheck,
    health: PathSet,
    routes: RouteTable,
    headers: SecurityHeaders,
    cookies: CookieRules,
    verbose: bool,
    report_only: ReportOnly,
    /// Set once a request carried the proxy header but no peer address was known.
    missing_peer_warned: AtomicBool,
    /// Set when a route layer was built from this policy: passed requests then carry
    /// [`Decided`](crate::route::Decided) for it.
    route_layers: AtomicBool,
}

/// A compiled security policy: immutable, `Clone` is a reference-count bump.
///
/// ```
/// use hardened::Security;
/// use hardened::config::Config;
/// use hardened::enforce::RejectionKind;
/// use hardened::probe::RuntimeProbe;
///
/// let cfg = Config::production(["example.com"])?;
/// let security = Security::from_config(&cfg, &RuntimeProbe::none())?;
/// let (parts, ()) = http::Request::get("/").header("host", "evil.com").body(())?.into_parts();
/// let decision = security.decide(&parts);
/// assert_eq!(
///     decision.rejection().map(|r| r.kind()),
///     Some(RejectionKind::HostNotAllowed)
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Security(Arc<Inner>);

impl Security {
    /// Compiles a policy, after the same refusals as [`Security::from_config`]: a
    /// policy changed in code after its derivation gets no way around them.
    ///
    /// ```
    /// use hardened::{config::Config, policy::derive, probe::RuntimeProbe, Security};
    ///
    /// let mut policy = derive(&Config::production(["example.com"])?, &RuntimeProbe::none())?;
    /// policy.csrf.exempt_paths = vec!["/*".into()];
    /// let errs = Security::new(policy).unwrap_err();
    /// assert_eq!(errs.0[0].kind().code(), "catch-all");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// What [`validate`](crate::policy::validate) refuses in a configuration, as far as
    /// a policy still shows it (`*` hosts or a catch-all pattern in production or
    /// staging, a path pattern that is not a path, an internal network wider than
    /// `/8`), and an invalid header value, naming the key.
    pub fn new(policy: Policy) -> Result<Security, ConfigErrors> {
        Security::compile(policy, false)
    }

    /// [`Security::from_config`] for a gateway in front of an application
    /// (`hardened serve`): the one place `gateway.csrf: upstream` takes effect, leaving
    /// the CSRF check to the upstream. Everywhere else — an application that loads the
    /// same file with [`Security::load`] — the check stays on: an application is no
    /// upstream with a check of its own.
    ///
    /// # Errors
    /// The configuration's problems.
    pub fn gateway_from_config(
        cfg: &Config,
        probe: &RuntimeProbe,
    ) -> Result<Security, ConfigErrors> {
        Security::compile(policy::derive(cfg, probe)?, true)
    }

    /// Compiles `policy`; `gateway`: whether CSRF may be left to an upstream.
    fn compile(policy: Policy, gateway: bool) -> Result<Security, ConfigErrors> {
        let mut problems = crate::policy::validate::policy_problems(&policy);
        let cors = CorsCheck::new(&policy.cors, &mut problems);
        let mut hv = |key: &str, s: &str| match header_value(key, s) {
            Ok(v) => Some(v),
            Err(p) => {
                problems.push(p);
                None
            }
        };
        let hsts = policy
            .tls
            .hsts
            .as_ref()
            .and_then(|h| hv("hsts", &h.header_value()));
        let headers = match SecurityHeaders::new(&policy.headers) {
            Ok(h) => h,
            Err(p) => {
                problems.push(p);
                SecurityHeaders::default()
            }
        };
        let proxy_header = policy.tls.proxy_ssl_header.map(ProxySslHeader::header_name);
        let routes = RouteTable::compile(&policy, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigErrors(problems));
        }
        let (proxy_any, proxy_nets) = match &policy.tls.trusted_proxies {
            ProxyTrust::Any => (true, Vec::new()),
            ProxyTrust::Networks(n) => (false, n.clone()),
        };
        Ok(Security(Arc::new(Inner {
            host: HostCheck::new(&policy),
            tls: TlsCheck {
                proxy_any,
                proxy_nets,
                proxy_header,
                ssl_redirect: policy.tls.ssl_redirect,
                hsts,
            },
            cors,
            routes,
            csrf: CsrfCheck {
                matcher: OriginMatcher::csrf(&policy.csrf),
                exempt: PathSet::new(&policy.csrf.exempt_paths),
                upstream: gateway && policy.csrf.upstream,
            },
            fetch_metadata: FetchMetadataCheck {
                mode: policy.fetch_metadata.mode,
                cross_site: PathSet::new(&policy.fetch_metadata.cross_site_paths),
            },
            health: PathSet::new(&policy.health_check_paths),
            headers,
            cookies: policy.cookies.clone(),
            verbose: !policy.environment.is_strict(),
            missing_peer_warned: AtomicBool::new(false),
            route_layers: AtomicBool::new(false),
            report_only: policy.report_only,
            policy,
        })))
    }

    /// Derives and compiles the policy of a configuration on a runtime.
    ///
    /// # Errors
    /// The configuration's problems.
    pub fn from_config(cfg: &Config, probe: &RuntimeProbe) -> Result<Security, ConfigErrors> {
        Security::new(policy::derive(cfg, probe)?)
    }

    /// Marks that a route layer was built from this policy.
    pub(crate) fn enable_route_layers(&self) {
        self.0.route_layers.store(true, Ordering::Relaxed);
    }

    /// Whether a route layer was built from this policy.
    pub(crate) fn has_route_layers(&self) -> bool {
        self.0.route_layers.load(Ordering::Relaxed)
    }

    /// The derived policy.
    pub fn policy(&self) -> &Policy {
        &self.0.policy
    }

    /// Whether the configured CSP, or a route's, has a `{nonce}` placeholder: the
    /// service then draws a [`CspNonce`](super::CspNonce) for each request whose CSP has.
    pub fn needs_csp_nonce(&self) -> bool {
        self.0.headers.needs_nonce() || self.0.routes.needs_nonce()
    }

    /// The checks that only log what they would reject.
    pub fn report_only(&self) -> ReportOnly {
        self.0.report_only
    }

    /// Whether the response body of rejections carries the fix (development and test).
    pub fn verbose_rejections(&self) -> bool {
        self.0.verbose
    }

    /// Whether CORS allows `origin` (an `Origin` header value): the policy's origins,
    /// subdomain patterns and regexes. A gateway uses it to keep an upstream's own
    /// `Access-Control-*` headers from reaching an origin the policy does not allow.
    pub fn allows_cors_origin(&self, origin: &http::HeaderValue) -> bool {
        origin.to_str().is_ok_and(|s| self.0.cors.matcher.allows(s))
    }

    /// Whether `peer` may set forwarded headers.
    pub fn trusts_proxy(&self, peer: Option<IpAddr>) -> bool {
        self.0.tls.trusts_proxy(peer)
    }

    /// Whether the request is secure: over TLS terminated in this process (the
    /// [`TlsConnection`](crate::TlsConnection) extension), or marked https by a trusted
    /// proxy's `X-Forwarded-Proto` (Django: the first comma-separated value must equal
    /// `https`).
    pub fn is_secure(&self, parts: &request::Parts) -> bool {
        self.client(parts).secure()
    }

    /// What the policy finds of the request's client, once per request: the peer
    /// address, whether it is a trusted proxy, and whether the request is secure.
    pub fn client(&self, parts: &request::Parts) -> Client {
        let peer = super::request::peer_ip(parts);
        let trusted_proxy = self.0.tls.trusts_proxy(peer);
        Client {
            peer,
            trusted_proxy,
            secure: self.0.tls.is_secure(parts, trusted_proxy),
        }
    }

    /// Whether this request is the first to carry the proxy header (`X-Forwarded-Proto`)
    /// without a peer address: the server was started without the peer address (axum's
    /// `into_make_service_with_connect_info`, or a [`PeerAddr`](crate::PeerAddr)
    /// extension), so the header is never believed. True at most once per `Security`;
    /// the service logs the warning. Costs one relaxed load when the header is present.
    pub(crate) fn first_missing_peer(&self, parts: &request::Parts, client: &Client) -> bool {
        let inner = &*self.0;
        let Some(name) = &inner.tls.proxy_header else {
            return false;
        };
        if inner.tls.proxy_any
            || client.peer.is_some()
            || !parts.headers.contains_key(name)
            || inner.missing_peer_warned.load(Ordering::Relaxed)
        {
            return false;
        }
        !inner.missing_peer_warned.swap(true, Ordering::Relaxed)
    }

    /// Whether a request has carried the proxy header without a peer address: the
    /// server gives the layer no peer address, so the header is never believed (the
    /// service logs it once).
    pub fn saw_missing_peer(&self) -> bool {
        self.0.missing_peer_warned.load(Ordering::Relaxed)
    }

    /// The verdict on a request, with every check on.
    pub fn decide(&self, parts: &request::Parts) -> Decision {
        self.decide_with(parts, Checks::ALL)
    }

    /// The verdict on a request, with the given checks. Pure: no logging, no I/O.
    pub fn decide_with(&self, parts: &request::Parts, checks: Checks) -> Decision {
        self.decide_for(parts, checks, self.client(parts), None)
    }

    /// The verdict on a request whose [`Client`] is known, with the given checks:
    /// host, TLS redirect (to `https_port` when the https listener is not on 443),
    /// CORS preflight, Fetch Metadata, the handshake Origin of WebSockets, CSRF.
    pub(crate) fn decide_for(
        &self,
        parts: &request::Parts,
        checks: Checks,
        client: Client,
        https_port: Option<u16>,
    ) -> Decision {
        let head = RequestHead::new(parts, client.secure);
        let head = &head;
        let inner = &*self.0;
        let route = self.route_of(head);
        let held = route.as_ref().map(|r| Arc::clone(&r.0));
        let rules = held.as_deref();
        let health = inner.health.matches(head.path());
        let skip_allowlist = health || rules.is_some_and(|r| r.skip_host_allowlist);
        let no_redirect = health || rules.is_some_and(|r| r.no_ssl_redirect);
        let cors = rules.and_then(|r| r.cors.as_ref()).unwrap_or(&inner.cors);
        let mut facts = Facts {
            secure: head.secure(),
            client,
            cors_origin: None,
            options: head.method().is_options(),
            grpc: head.grpc(),
            checks,
            nonce: None,
            reported: Vec::new(),
            route,
        };
        let report = rules
            .and_then(|r| r.report_only)
            .unwrap_or(inner.report_only);

        let host = inner.host.allowed(head);
        // Health-check paths (and routes with `host_check: skip_allowlist`) are exempt
        // from the allow-list only: a missing, duplicate, malformed or conflicting Host
        // is refused on them too.
        if checks.host() && host.is_none() && (!skip_allowlist || head.host().is_none()) {
            let answer = Answer::Reject(inner.host.rejection(head));
            // Report-only relaxes the allow-list only: a request without exactly one
            // well-formed Host (duplicate, missing, malformed, or an HTTP/2
            // `:authority` that disagrees) is refused in every mode, as on health-check
            // paths — an upstream would read such a Host its own way.
            if !report.host || head.host().is_none() {
                return Decision::Answer(answer, facts);
            }
            facts.reported.push(answer);
        }

        if checks.tls()
            && !no_redirect
            && let Some(location) = inner.tls.redirect(head, host, https_port)
        {
            if !report.tls {
                return Decision::Answer(Answer::Redirect(location), facts);
            }
            facts.reported.push(Answer::Redirect(location));
        }

        if checks.cors() {
            facts.cors_origin = cors.allowed_origin(head);
            if head.method() == MethodClass::Preflight {
                return Decision::Answer(Answer::Preflight, facts);
            }
        }

        if checks.fetch_metadata()
            && !rules.is_some_and(|r| r.cross_site_allow)
            && let Err(r) = inner.fetch_metadata.check(
                head,
                |origin| {
                    facts.cors_origin.is_some()
                        || cors.matcher.allows(origin)
                        || inner.csrf.matcher.allows(origin)
                },
                || inner.csrf.exempts(head, rules.and_then(|r| r.csrf_exempt)),
            )
        {
            if !inner.fetch_metadata.reports() {
                return Decision::Answer(Answer::Reject(r), facts);
            }
            facts.reported.push(Answer::Reject(r));
        }

        if checks.websocket()
            && websocket::is_handshake(head)
            && let Err(r) = websocket::check(head, host, || {
                // A route open to any origin (`origins: ["*"]`) grants reads without
                // credentials; a handshake carries the cookies, so only the origins it
                // names open it.
                if cors.any {
                    return cors.names_origin(head);
                }
                facts.cors_origin.is_some()
                    || (!checks.cors() && cors.allowed_origin(head).is_some())
            })
        {
            if !report.websocket {
                return Decision::Answer(Answer::Reject(r), facts);
            }
            facts.reported.push(Answer::Reject(r));
        }

        if checks.csrf()
            && let Err(r) = inner
                .csrf
                .check(head, host, rules.and_then(|r| r.csrf_exempt))
        {
            if !report.csrf {
                return Decision::Answer(Answer::Reject(r), facts);
            }
            facts.reported.push(Answer::Reject(r));
        }
        Decision::Pass(facts)
    }

    /// The route of a request: the mark of a route layer that saw it first, else the
    /// most specific configured route of its normalised path and method (for a
    /// preflight, the method it asks about).
    fn route_of(&self, head: &RequestHead<'_>) -> Option<RouteMark> {
        let parts = head.parts();
        if let Some(mark) = parts.extensions.get::<RouteMark>() {
            return Some(mark.clone());
        }
        if self.0.routes.is_empty() {
            return None;
        }
        let asked;
        let method = if head.method() == MethodClass::Preflight {
            asked = parts
                .headers
                .get(header::ACCESS_CONTROL_REQUEST_METHOD)
                .and_then(|v| http::Method::from_bytes(v.as_bytes()).ok());
            asked.as_ref().unwrap_or(&parts.method)
        } else {
            &parts.method
        };
        // A route that weakens anything is for the plain spelling of its path only: any
        // other spelling (`/%77ebhooks/1`, `/partner%2faccount`, `/a//b`) gets the global
        // policy, as an application that routes the raw path may hand it to another
        // handler. A route that only tightens holds on every spelling.
        let path = head.path();
        self.0
            .routes
            .find(path, method)
            .filter(|r| !r.weakens || super::routes::is_plain_spelling(path))
            .map(|r| RouteMark(r.clone()))
    }

    /// Whether the response of `facts` needs a CSP nonce: the route's headers, or the
    /// policy's, have a `{nonce}` placeholder.
    pub(crate) fn needs_csp_nonce_for(&self, facts: &Facts) -> bool {
        match facts.route.as_ref().and_then(|r| r.0.headers.as_ref()) {
            Some(h) => h.needs_nonce(),
            None => self.0.headers.needs_nonce(),
        }
    }

    /// Post-processes a response: CORS headers, security headers, HSTS, cookies, as
    /// far as the decision's checks ([`Facts::checks`]) go.
    pub(crate) fn finish(&self, headers: &mut HeaderMap, facts: &Facts) {
        // No `HeaderMap::reserve` here: measured over HTTP, reserving on hyper's response
        // maps (which already have room) cost more than the growth it saves.
        if facts.checks.cors() {
            facts
                .route
                .as_ref()
                .and_then(|r| r.0.cors.as_ref())
                .unwrap_or(&self.0.cors)
                .apply(headers, facts);
        }
        self.finish_common(headers, facts);
    }

    /// Security headers, HSTS and cookies: applied to every response, rejections and
    /// redirects too.
    fn finish_common(&self, headers: &mut HeaderMap, facts: &Facts) {
        let inner = &*self.0;
        let checks = facts.checks;
        if checks.headers() {
            facts
                .route
                .as_ref()
                .and_then(|r| r.0.headers.as_ref())
                .unwrap_or(&inner.headers)
                .apply(headers, facts.nonce.as_ref());
        }
        if checks.tls() {
            inner.tls.apply(headers, facts.secure);
        }
        if checks.cookies() && (inner.cookies.secure || inner.cookies.harden_session_cookie) {
            cookies::harden(headers, &inner.cookies);
        }
    }

    /// Builds the response for a decision that does not reach the service: `None` for
    /// [`Decision::Pass`]. The response carries a [`Verdict`](super::Verdict) extension, and the
    /// [`Rejection`](crate::Rejection) on rejections.
    pub(crate) fn respond<B>(&self, decision: Decision) -> Option<http::Response<B>>
    where
        B: From<bytes::Bytes>,
    {
        let verdict = decision.verdict();
        let Decision::Answer(answer, facts) = decision else {
            return None;
        };
        let (status, body) = match &answer {
            Answer::Reject(r) => (r.status(), rejection_body(r, self.0.verbose)),
            Answer::Redirect(_) => (StatusCode::MOVED_PERMANENTLY, bytes::Bytes::new()),
            Answer::Preflight => (StatusCode::OK, bytes::Bytes::new()),
        };
        let len = body.len();
        let (mut head, body) = http::Response::new(B::from(body)).into_parts();
        head.status = status;
        // Room for every header these answers get (length, type, Vary, the security
        // headers, HSTS, CORS), so the map is allocated once instead of grown.
        head.headers = HeaderMap::with_capacity(12);
        head.extensions.insert(verdict);
        head.headers
            .insert(header::CONTENT_LENGTH, content_length(len));
        let body = match answer {
            Answer::Reject(r) => {
                if facts.grpc {
                    grpc::trailers_only(&mut head.status, &mut head.headers, &r);
                } else {
                    head.headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                }
                self.finish(&mut head.headers, &facts);
                head.extensions.insert(r);
                if facts.grpc {
                    // The body must be empty for a trailers-only response.
                    B::from(bytes::Bytes::new())
                } else {
                    body
                }
            }
            Answer::Redirect(location) => {
                head.headers.insert(header::LOCATION, location);
                self.finish_common(&mut head.headers, &facts);
                body
            }
            Answer::Preflight => {
                self.finish(&mut head.headers, &facts);
                body
            }
        };
        Some(http::Response::from_parts(head, body))
    }
}

/// A `Content-Length` value in one allocation (`HeaderValue::from(usize)` takes two),
/// none for an empty body.
fn content_length(len: usize) -> HeaderValue {
    if len == 0 {
        return HeaderValue::from_static("0");
    }
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut n = len;
    while n > 0 && start > 0 {
        start -= 1;
        if let Some(d) = digits.get_mut(start) {
            *d = b'0' + u8::try_from(n % 10).unwrap_or(0);
        }
        n /= 10;
    }
    HeaderValue::from_bytes(digits.get(start..).unwrap_or_default())
        .unwrap_or_else(|_| HeaderValue::from(len))
}

/// The text body of a rejection: the status line, the reason and, when `verbose`, the
/// fix. Measured first, then written into a buffer of exactly that size, which becomes
/// the `Bytes` without another allocation.
fn rejection_body(r: &Rejection, verbose: bool) -> bytes::Bytes {
    use std::fmt::{self, Write};

    /// Counts what would be written.
    struct Len(usize);
    impl Write for Len {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }

    fn write_body(out: &mut dyn Write, r: &Rejection, verbose: bool) -> fmt::Result {
        // As `StatusCode`'s `Display` writes it, without the formatting machinery.
        let status = r.status();
        out.write_str(status.as_str())?;
        out.write_char(' ')?;
        out.write_str(status.canonical_reason().unwrap_or("<unknown status code>"))?;
        out.write_str("\n\n")?;
        r.write_reason(out)?;
        out.write_char('\n')?;
        if verbose {
            out.write_str("fix: ")?;
            r.write_fix(out)?;
            out.write_char('\n')?;
        }
        Ok(())
    }

    let mut len = Len(0);
    // Neither writer fails.
    let _ = write_body(&mut len, r, verbose);
    let mut text = String::with_capacity(len.0);
    let _ = write_body(&mut text, r, verbose);
    bytes::Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use super::super::decision::{Rejection, Verdict};
    use super::super::testing::{request, security};
    use crate::config::Config;

    /// The missing-peer warning fires once per policy, and never for a request with a
    /// peer address.
    #[test]
    fn missing_peer_is_noticed_once() {
        let sec = security(Config::production(["example.com"]));
        let xfp = request(
            "GET",
            "/",
            &[("host", "example.com"), ("x-forwarded-proto", "https")],
        );
        let client = sec.client(&xfp);
        assert!(sec.first_missing_peer(&xfp, &client));
        assert!(!sec.first_missing_peer(&xfp, &client));
        assert!(sec.saw_missing_peer());
        let fresh = security(Config::production(["example.com"]));
        let mut with_peer = request("GET", "/", &[("x-forwarded-proto", "https")]);
        with_peer
            .extensions
            .insert(crate::PeerAddr(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                9,
            ))));
        let client = fresh.client(&with_peer);
        assert!(!fresh.first_missing_peer(&with_peer, &client));
        assert!(!fresh.saw_missing_peer());
    }

    #[test]
    fn content_length_digits() {
        for n in [0, 1, 9, 10, 62, 1234, usize::MAX] {
            assert_eq!(super::content_length(n), http::HeaderValue::from(n), "{n}");
        }
    }

    #[test]
    fn answers_carry_their_verdict() {
        let sec = security(Config::production(["example.com"]).map(|mut c| {
            c.ssl_redirect = Some(true);
            c
        }));
        let acrm = ("access-control-request-method", "PUT");
        // (method, host, over TLS, verdict)
        let cases: &[(&str, &str, bool, Verdict)] = &[
            ("GET", "evil.com", true, Verdict::Rejected),
            ("GET", "example.com", false, Verdict::Redirect),
            ("OPTIONS", "example.com", true, Verdict::Preflight),
            ("GET", "example.com", true, Verdict::Allowed),
        ];
        for (method, host, tls, expected) in cases {
            let mut parts = request(method, "/", &[("host", host), acrm]);
            if *tls {
                parts.extensions.insert(crate::TlsConnection);
            }
            let d = sec.decide(&parts);
            assert_eq!(d.verdict(), *expected, "{method} {host}");
            let Some(resp) = sec.respond::<bytes::Bytes>(d) else {
                assert_eq!(*expected, Verdict::Allowed, "{method} {host}");
                continue;
            };
            assert_eq!(resp.extensions().get::<Verdict>(), Some(expected));
            assert_eq!(Verdict::of(&resp), *expected);
            assert_eq!(
                resp.extensions().get::<Rejection>().is_some(),
                *expected == Verdict::Rejected
            );
        }
    }
}
