//! The compiled policy and its per-request decision.
//!
//! Why not tower-http's `CorsLayer`, `SetResponseHeaderLayer` and friends: the checks
//! share one parse of the request head (the host decides the CSRF "same origin", the
//! Origin feeds both CORS and CSRF), origins are compared after normalization (case,
//! default port, trailing dot) against hash sets instead of `AllowOrigin::list`'s linear
//! scan, bad configuration must be a `Result` at build time (tower-http's CORS layer
//! `assert!`s in `layer()`), and the semantics must be Django's and django-cors-headers'
//! (preflight only with `Access-Control-Request-Method`, `Vary: origin` appended to every
//! response, the CSRF Referer rules). So the decision is one synchronous function and the
//! response work one pass; headers the handler set are never overwritten.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
#[cfg(feature = "config-file")]
use std::path::Path;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, request};
use ipnet::IpNet;

#[cfg(feature = "config-file")]
use crate::config::load::Loader;
use crate::config::{Config, ConfigErrors, Problem, ProblemKind};
use crate::domain::Scheme;
use crate::matcher::{HostMatcher, OriginMatcher, OriginParts, PathSet, split_domain_port};
use crate::policy::{
    self, CookieRules, CrossOriginOpenerPolicy, FrameOptions, Policy, ProxySslHeader, ProxyTrust,
    ReferrerPolicy, XssProtection,
};
use crate::probe::RuntimeProbe;
#[cfg(feature = "config-file")]
use crate::probe::{self, OsSystem};

/// The peer's socket address, for deciding whether to believe `X-Forwarded-Proto`.
///
/// Insert it into request extensions (hyper servers), or enable the `axum` feature to
/// have axum's `ConnectInfo<SocketAddr>` read directly. Without a peer address,
/// forwarded headers are believed only when `trusted_proxies` is `"*"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Marks a request that arrived over TLS terminated in this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsConnection;

/// Exempts one request from the CSRF check. Insert it into request extensions before
/// the security layer sees the request (for exemption by route pattern, use
/// `csrf_exempt_paths`, which accepts axum route syntax such as `/hooks/{id}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsrfExempt;

/// Which checks a layer applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct Checks {
    /// Host header validation.
    pub host: bool,
    /// TLS redirect and HSTS.
    pub tls: bool,
    /// CORS headers and preflight.
    pub cors: bool,
    /// CSRF origin/referer check.
    pub csrf: bool,
    /// Security response headers.
    pub headers: bool,
    /// Cookie hardening.
    pub cookies: bool,
}

impl Checks {
    /// Every check.
    pub const ALL: Checks = Checks {
        host: true,
        tls: true,
        cors: true,
        csrf: true,
        headers: true,
        cookies: true,
    };
    /// No check.
    pub const NONE: Checks = Checks {
        host: false,
        tls: false,
        cors: false,
        csrf: false,
        headers: false,
        cookies: false,
    };
}

/// Which check rejected a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// The host check.
    Host,
    /// The TLS redirect.
    Tls,
    /// CORS.
    Cors,
    /// CSRF.
    Csrf,
}

impl Check {
    /// The check's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Host => "host",
            Check::Tls => "tls",
            Check::Cors => "cors",
            Check::Csrf => "csrf",
        }
    }
}

/// A rejected request: which check, a stable code, the reason and the fix. Attached to
/// the rejection response's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The check that rejected.
    pub check: Check,
    /// A stable kebab-case code, e.g. `host-not-allowed`, `csrf-bad-origin`.
    pub code: &'static str,
    /// The response status (400 or 403).
    pub status: StatusCode,
    /// Why (Django's wording where Django has one).
    pub reason: String,
    /// How to fix it, when the request was legitimate.
    pub fix: Cow<'static, str>,
    /// What the rejection response carries: HSTS when the request was secure and, for
    /// CSRF rejections, the CORS headers of an allowed origin (so a frontend can read
    /// the error, as with django-cors-headers).
    pub response: Allowed,
    /// The request was gRPC: the rejection is answered as a gRPC status
    /// (`grpc-status` 3 for host problems, 7 for CSRF) so clients see the reason.
    pub grpc: bool,
}

impl Rejection {
    /// A rejection by `check`; the response details are filled in by the decision.
    fn new(
        check: Check,
        code: &'static str,
        reason: String,
        fix: impl Into<Cow<'static, str>>,
    ) -> Rejection {
        Rejection {
            check,
            code,
            status: match check {
                Check::Csrf => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            },
            reason,
            fix: fix.into(),
            response: Allowed::default(),
            grpc: false,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.reason)
    }
}

/// What to do with a request that passes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    /// The request is secure (TLS, or `X-Forwarded-Proto: https` from a trusted proxy).
    pub secure: bool,
    /// The `Origin` to echo in `Access-Control-Allow-Origin`, when allowed.
    pub cors_origin: Option<HeaderValue>,
    /// The request is an `OPTIONS` request (CORS adds allow-headers/methods).
    pub options: bool,
}

/// The verdict on one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Pass to the service; post-process its response.
    Allow(Allowed),
    /// Answer with an error.
    Reject(Rejection),
    /// Answer `301 Moved Permanently` to this https URL.
    Redirect(HeaderValue),
    /// Answer a CORS preflight; with the origin when it is allowed.
    Preflight(Allowed),
}

#[derive(Debug)]
struct Inner {
    policy: Policy,
    hosts: HostMatcher,
    cors: OriginMatcher,
    csrf: OriginMatcher,
    health: PathSet,
    csrf_exempt: PathSet,
    proxy_any: bool,
    proxy_nets: Vec<IpNet>,
    proxy_header: Option<HeaderName>,
    ssl_redirect: bool,
    hsts: Option<HeaderValue>,
    headers: Box<[(HeaderName, HeaderValue)]>,
    cors_allow_headers: HeaderValue,
    cors_allow_methods: HeaderValue,
    cors_max_age: Option<HeaderValue>,
    cookies: CookieRules,
    verbose: bool,
}

/// A compiled security policy: immutable, `Clone` is a reference-count bump.
///
/// ```
/// use hardened::{Decision, Security};
/// use hardened::config::Config;
/// use hardened::probe::RuntimeProbe;
///
/// let cfg = Config::production(["example.com"])?;
/// let security = Security::from_config(&cfg, &RuntimeProbe::none())?;
/// let (parts, ()) = http::Request::get("/").header("host", "evil.com").body(())?.into_parts();
/// assert!(matches!(security.decide(&parts), Decision::Reject(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Security(Arc<Inner>);

#[allow(clippy::result_large_err)] // build time only
fn header_value(key: &str, s: &str) -> Result<HeaderValue, Problem> {
    HeaderValue::from_str(s).map_err(|_| {
        Problem::new(
            ProblemKind::InvalidHeaderValue,
            key,
            "not a valid HTTP header value",
            "use visible ASCII characters only",
        )
        .with_value(format!("{s:?}"))
    })
}

impl Security {
    /// Compiles a policy.
    ///
    /// # Errors
    /// An invalid user regex or header value, naming the key.
    pub fn new(policy: Policy) -> Result<Security, ConfigErrors> {
        let mut problems = Vec::new();
        let cors = match OriginMatcher::cors(&policy.cors) {
            Ok(m) => m,
            Err(e) => {
                problems.push(Problem::new(
                    ProblemKind::InvalidRegex,
                    "cors_allowed_origin_regexes",
                    format!("invalid regex: {e}"),
                    "fix the regular expression",
                ));
                OriginMatcher::default()
            }
        };
        let mut hv = |key: &str, s: &str| match header_value(key, s) {
            Ok(v) => Some(v),
            Err(p) => {
                problems.push(p);
                None
            }
        };
        let cors_allow_headers = hv("cors_allow_headers", &policy.cors.allow_headers.join(", "));
        let cors_allow_methods = hv("cors_allow_methods", &policy.cors.allow_methods.join(", "));
        let cors_max_age =
            (policy.cors.max_age > 0).then(|| HeaderValue::from(policy.cors.max_age));
        let hsts = policy
            .tls
            .hsts
            .as_ref()
            .and_then(|h| hv("hsts", &h.header_value()));
        let mut headers = Vec::new();
        let h = &policy.headers;
        if h.content_type_nosniff {
            headers.push((
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ));
        }
        let named = [
            (
                header::X_FRAME_OPTIONS,
                h.x_frame_options.map(FrameOptions::as_str),
            ),
            (
                header::REFERRER_POLICY,
                h.referrer_policy.map(ReferrerPolicy::as_str),
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                h.cross_origin_opener_policy
                    .map(CrossOriginOpenerPolicy::as_str),
            ),
            (
                header::X_XSS_PROTECTION,
                h.xss_protection.map(XssProtection::as_str),
            ),
        ];
        for (name, value) in named {
            if let Some(v) = value
                && let Some(v) = hv(name.as_str(), v)
            {
                headers.push((name, v));
            }
        }
        let proxy_header = policy.tls.proxy_ssl_header.map(ProxySslHeader::header_name);
        if !problems.is_empty() {
            return Err(ConfigErrors(problems));
        }
        let (proxy_any, proxy_nets) = match &policy.tls.trusted_proxies {
            ProxyTrust::Any => (true, Vec::new()),
            ProxyTrust::Networks(n) => (false, n.clone()),
        };
        Ok(Security(Arc::new(Inner {
            hosts: HostMatcher::new(&policy.hosts),
            cors,
            csrf: OriginMatcher::csrf(&policy.csrf),
            health: PathSet::new(&policy.health_check_paths),
            csrf_exempt: PathSet::new(&policy.csrf.exempt_paths),
            proxy_any,
            proxy_nets,
            proxy_header,
            ssl_redirect: policy.tls.ssl_redirect,
            hsts,
            headers: headers.into_boxed_slice(),
            cors_allow_headers: cors_allow_headers.unwrap_or_else(|| HeaderValue::from_static("")),
            cors_allow_methods: cors_allow_methods.unwrap_or_else(|| HeaderValue::from_static("")),
            cors_max_age,
            cookies: policy.cookies.clone(),
            verbose: !policy.environment.is_strict(),
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

    /// Loads `./config.yaml` (or the built-in development defaults when it is absent)
    /// with `.env` and the process environment, probes this machine, and compiles.
    ///
    /// # Errors
    /// Every configuration problem.
    #[cfg(feature = "config-file")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config-file")))]
    pub fn load() -> Result<Security, ConfigErrors> {
        let loaded = Loader::from_process_env()
            .file_if_exists("config.yaml")
            .load()?;
        Security::from_config(&loaded.config, &probe::detect(&OsSystem))
    }

    /// Like [`Security::load`] with an explicit config file.
    ///
    /// # Errors
    /// Every configuration problem.
    #[cfg(feature = "config-file")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config-file")))]
    pub fn load_from(path: impl AsRef<Path>) -> Result<Security, ConfigErrors> {
        let loaded = Loader::from_process_env().file(path.as_ref()).load()?;
        Security::from_config(&loaded.config, &probe::detect(&OsSystem))
    }

    /// The derived policy.
    pub fn policy(&self) -> &Policy {
        &self.0.policy
    }

    /// Whether the response body of rejections carries the fix (development and test).
    pub fn verbose_rejections(&self) -> bool {
        self.0.verbose
    }

    /// Whether `peer` may set forwarded headers.
    pub fn trusts_proxy(&self, peer: Option<IpAddr>) -> bool {
        if self.0.proxy_any {
            return true;
        }
        match peer {
            Some(ip) => {
                let ip = ip.to_canonical();
                self.0.proxy_nets.iter().any(|n| n.contains(&ip))
            }
            None => false,
        }
    }

    /// Whether the request is secure: over TLS terminated in this process (the
    /// [`TlsConnection`] extension), or marked https by a trusted proxy's
    /// `X-Forwarded-Proto` (Django: the first comma-separated value must equal `https`).
    pub fn is_secure(&self, parts: &request::Parts) -> bool {
        if let Some(name) = &self.0.proxy_header
            && self.trusts_proxy(peer_ip(parts))
            && let Some(v) = parts.headers.get(name)
        {
            let first = v.as_bytes().split(|b| *b == b',').next().unwrap_or(&[]);
            return first.trim_ascii() == b"https";
        }
        // Never the request target's scheme (`GET https://... HTTP/1.1`, HTTP/2
        // `:scheme`): the client writes it, whatever the connection is.
        parts.extensions.get::<TlsConnection>().is_some()
    }

    /// The verdict on a request, with every check on.
    pub fn decide(&self, parts: &request::Parts) -> Decision {
        self.decide_with(parts, Checks::ALL)
    }

    /// The verdict on a request, with the given checks.
    pub fn decide_with(&self, parts: &request::Parts, checks: Checks) -> Decision {
        let inner = &*self.0;
        let path = parts.uri.path();
        let health = inner.health.matches(path);

        // Host.
        let host = match request_host(parts) {
            Ok(h) => Some(h),
            Err(r) if checks.host && !health => return self.reject(r, parts, None),
            Err(_) => None,
        };
        let host_ok = host
            .as_ref()
            .is_some_and(|(_, domain)| inner.hosts.allows(domain));
        if checks.host && !health && !host_ok {
            let raw = host.as_ref().map_or("", |(raw, _)| raw);
            let r = self.host_rejection(raw, host.as_ref().map(|(_, d)| d.as_ref()));
            return self.reject(r, parts, None);
        }
        let host = host.filter(|_| host_ok);

        // TLS.
        let secure = self.is_secure(parts);
        if checks.tls
            && inner.ssl_redirect
            && !secure
            && !health
            && let Some((raw, _)) = &host
        {
            let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
            if let Ok(loc) = HeaderValue::from_str(&format!("https://{raw}{pq}")) {
                return Decision::Redirect(loc);
            }
        }

        // CORS.
        let mut origins = parts.headers.get_all(header::ORIGIN).iter();
        let origin = origins.next();
        let duplicate_origin = origins.next().is_some();
        let cors_origin = if checks.cors && !duplicate_origin {
            origin
                .filter(|v| v.to_str().is_ok_and(|s| inner.cors.allows(s)))
                .cloned()
        } else {
            None
        };
        let options = parts.method == Method::OPTIONS;
        let allowed = Allowed {
            secure,
            cors_origin,
            options,
        };
        if checks.cors
            && options
            && parts
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return Decision::Preflight(allowed);
        }

        // CSRF.
        if checks.csrf
            && !is_safe_method(&parts.method)
            && parts.extensions.get::<CsrfExempt>().is_none()
            && !inner.csrf_exempt.matches(path)
            && let Err(r) = self.csrf_check(
                parts,
                secure,
                host.as_ref().map(|(r, d)| (*r, d.as_ref())),
                origin,
                duplicate_origin,
            )
        {
            return self.reject(r, parts, Some(allowed));
        }
        Decision::Allow(allowed)
    }

    fn host_rejection(&self, raw: &str, domain: Option<&str>) -> Rejection {
        let domain = domain.unwrap_or(raw);
        let is_private_ip = domain
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| {
                self.0
                    .policy
                    .internal_networks
                    .iter()
                    .any(|n| n.contains(&ip.to_canonical()))
            });
        let fix: Cow<'static, str> = if raw.is_empty() {
            "send a Host header".into()
        } else if is_private_ip && !self.0.policy.runtime.container {
            format!(
                "health checks by internal IP: export DOCKER=true (or set `docker: true`) so internal networks are allowed, or add `health_check_paths`; otherwise add {domain} to security_domains"
            )
            .into()
        } else {
            format!("add {domain} to security_domains").into()
        };
        let reason = if raw.is_empty() {
            "Missing Host header".to_owned()
        } else {
            format!("Invalid HTTP_HOST header: {raw:?}")
        };
        let code = if raw.is_empty() {
            "host-missing"
        } else {
            "host-not-allowed"
        };
        Rejection::new(Check::Host, code, reason, fix)
    }

    /// Django's `CsrfViewMiddleware` origin and referer rules (the token check is the
    /// application's business), plus `Sec-Fetch-Site: cross-site` without `Origin`.
    fn csrf_check(
        &self,
        parts: &request::Parts,
        secure: bool,
        host: Option<(&str, &str)>,
        origin: Option<&HeaderValue>,
        duplicate_origin: bool,
    ) -> Result<(), Rejection> {
        let inner = &*self.0;
        let fix_for = |what: &str| -> Cow<'static, str> {
            match Scheme::parse(what.split("://").next().unwrap_or("")) {
                Some(_) => format!(
                    "if {what} is your frontend, add it to security_domains; otherwise this is a cross-site request, or exempt the route (csrf_exempt_paths) for API-only endpoints"
                )
                .into(),
                None => "send requests from a page served by an allowed origin".into(),
            }
        };
        if duplicate_origin {
            return Err(Rejection::new(
                Check::Csrf,
                "csrf-bad-origin",
                "Origin checking failed - multiple Origin headers.".into(),
                "send one Origin header",
            ));
        }
        if let Some(origin) = origin {
            let value = String::from_utf8_lossy(origin.as_bytes());
            if self.origin_is_request_origin(&value, secure, host) || inner.csrf.allows(&value) {
                return Ok(());
            }
            return Err(Rejection::new(
                Check::Csrf,
                "csrf-bad-origin",
                format!("Origin checking failed - {value} does not match any trusted origins."),
                fix_for(&value),
            ));
        }
        if parts
            .headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
        {
            return Err(Rejection::new(
                Check::Csrf,
                "csrf-cross-site",
                "Cross-site request without Origin (Sec-Fetch-Site: cross-site).".into(),
                "browsers send Origin on cross-site requests; if this is your frontend, add its domain to security_domains",
            ));
        }
        if !secure || is_grpc(parts) {
            // gRPC: a browser cannot send `application/grpc` cross-site without a CORS
            // preflight (which foreign origins fail), and would send Origin; gRPC
            // clients send neither Origin nor Referer.
            return Ok(());
        }
        let reject = |code, reason: String, fix: Cow<'static, str>| {
            Rejection::new(Check::Csrf, code, reason, fix)
        };
        let Some(referer) = parts.headers.get(header::REFERER) else {
            return Err(reject(
                "csrf-no-referer",
                "Referer checking failed - no Referer.".into(),
                "browsers send Referer on https form posts; check Referrer-Policy (no-referrer breaks it), or send an Origin header".into(),
            ));
        };
        let referer = String::from_utf8_lossy(referer.as_bytes());
        let Some((scheme, netloc)) = split_url(&referer) else {
            return Err(reject(
                "csrf-malformed-referer",
                "Referer checking failed - Referer is malformed.".into(),
                "send an absolute Referer URL".into(),
            ));
        };
        if !scheme.eq_ignore_ascii_case("https") {
            return Err(reject(
                "csrf-insecure-referer",
                "Referer checking failed - Referer is insecure while host is secure.".into(),
                "serve the page that submits the form over https".into(),
            ));
        }
        let netloc = netloc.to_ascii_lowercase();
        if inner.csrf.allows_referer_netloc(&netloc) {
            return Ok(());
        }
        if let Some((raw, _)) = host
            && raw.eq_ignore_ascii_case(&netloc)
        {
            return Ok(());
        }
        Err(reject(
            "csrf-bad-referer",
            format!("Referer checking failed - {referer} does not match any trusted origins."),
            fix_for(&format!("https://{netloc}")),
        ))
    }

    /// Whether `origin` is the request's own `scheme://host[:port]`.
    fn origin_is_request_origin(
        &self,
        origin: &str,
        secure: bool,
        host: Option<(&str, &str)>,
    ) -> bool {
        let Some((raw, domain)) = host else {
            return false;
        };
        let scheme = if secure { Scheme::Https } else { Scheme::Http };
        let port = match raw.rsplit_once(':') {
            Some((_, p)) if !raw.ends_with(']') => p.parse::<u16>().ok(),
            _ => None,
        };
        let port = port.unwrap_or(scheme.default_port());
        let check = |o: &OriginParts<'_>| o.scheme == scheme && o.host == domain && o.port == port;
        if let Some(o) = OriginParts::parse_canonical(origin) {
            return check(&o);
        }
        match crate::domain::Origin::parse_header(origin) {
            Some(o) => {
                let h = o.host.to_string();
                check(&OriginParts {
                    scheme: o.scheme,
                    host: &h,
                    port: o.effective_port(),
                    explicit_port: o.port.is_some(),
                })
            }
            None => false,
        }
    }

    fn reject(
        &self,
        mut r: Rejection,
        parts: &request::Parts,
        allowed: Option<Allowed>,
    ) -> Decision {
        r.grpc = is_grpc(parts);
        r.response = allowed.unwrap_or_else(|| Allowed {
            secure: self.is_secure(parts),
            cors_origin: None,
            options: parts.method == Method::OPTIONS,
        });
        tracing::warn!(
            check = r.check.as_str(),
            code = r.code,
            method = %parts.method,
            path = ?parts.uri.path(),
            reason = %r.reason,
            fix = %r.fix,
            "request rejected"
        );
        Decision::Reject(r)
    }

    /// Post-processes a response: CORS headers, security headers, HSTS, cookies.
    pub fn finish(&self, headers: &mut HeaderMap, allowed: &Allowed, checks: Checks) {
        let inner = &*self.0;
        // No `HeaderMap::reserve` here: measured over HTTP, reserving on hyper's response
        // maps (which already have room) cost more than the growth it saves.
        if checks.cors {
            add_vary_origin(headers);
            if let Some(origin) = &allowed.cors_origin {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                if inner.policy.cors.allow_credentials {
                    headers.insert(
                        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                        HeaderValue::from_static("true"),
                    );
                }
                if allowed.options {
                    headers.insert(
                        header::ACCESS_CONTROL_ALLOW_HEADERS,
                        inner.cors_allow_headers.clone(),
                    );
                    headers.insert(
                        header::ACCESS_CONTROL_ALLOW_METHODS,
                        inner.cors_allow_methods.clone(),
                    );
                    if let Some(age) = &inner.cors_max_age {
                        headers.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
                    }
                }
            }
        }
        self.finish_common(headers, allowed.secure, checks);
    }

    /// Security headers, HSTS and cookies: applied to every response, rejections too.
    fn finish_common(&self, headers: &mut HeaderMap, secure: bool, checks: Checks) {
        let inner = &*self.0;
        if checks.headers {
            for (name, value) in inner.headers.iter() {
                if !headers.contains_key(name) {
                    headers.insert(name.clone(), value.clone());
                }
            }
        }
        if checks.tls
            && secure
            && let Some(hsts) = &inner.hsts
            && !headers.contains_key(header::STRICT_TRANSPORT_SECURITY)
        {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
        if checks.cookies && (inner.cookies.secure || inner.cookies.harden_session_cookie) {
            crate::cookies::harden(headers, &inner.cookies);
        }
    }

    /// Builds the response for a decision that does not reach the service.
    pub fn respond<B>(&self, decision: Decision, checks: Checks) -> Option<http::Response<B>>
    where
        B: From<bytes::Bytes>,
    {
        let (status, body, secure) = match &decision {
            Decision::Allow(_) => return None,
            Decision::Reject(r) => {
                let text = if self.0.verbose {
                    format!("{}\n\n{}\nfix: {}\n", r.status, r.reason, r.fix)
                } else {
                    format!("{}\n\n{}\n", r.status, r.reason)
                };
                (r.status, bytes::Bytes::from(text), r.response.secure)
            }
            Decision::Redirect(_) => (StatusCode::MOVED_PERMANENTLY, bytes::Bytes::new(), false),
            Decision::Preflight(a) => (StatusCode::OK, bytes::Bytes::new(), a.secure),
        };
        let len = body.len();
        let mut resp = http::Response::new(B::from(body));
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        match decision {
            Decision::Reject(r) if r.grpc => {
                // A trailers-only gRPC response: HTTP 200 with the status in headers.
                *resp.status_mut() = StatusCode::OK;
                let headers = resp.headers_mut();
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/grpc"),
                );
                let code = match r.check {
                    Check::Csrf => "7",
                    _ => "3",
                };
                headers.insert("grpc-status", HeaderValue::from_static(code));
                if let Ok(msg) = HeaderValue::from_str(&grpc_percent_encode(&r.reason)) {
                    headers.insert("grpc-message", msg);
                }
                self.finish(headers, &r.response, checks);
                resp.extensions_mut().insert(r);
                // The body must be empty for a trailers-only response.
                return Some(resp.map(|_| B::from(bytes::Bytes::new())));
            }
            Decision::Reject(r) => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                self.finish(headers, &r.response, checks);
                resp.extensions_mut().insert(r);
            }
            Decision::Redirect(loc) => {
                headers.insert(header::LOCATION, loc);
                self.finish_common(headers, secure, checks);
            }
            Decision::Preflight(a) => self.finish(headers, &a, checks),
            Decision::Allow(_) => {}
        }
        Some(resp)
    }

    /// The tower layer applying every check, in order: host, TLS redirect, CORS
    /// (preflight answered here), CSRF; then security headers, HSTS and cookie hardening
    /// on the way out.
    pub fn layer(&self) -> crate::service::SecurityLayer {
        crate::service::SecurityLayer::new(self.clone(), Checks::ALL)
    }

    /// A layer applying only the given checks.
    pub fn layer_with(&self, checks: Checks) -> crate::service::SecurityLayer {
        crate::service::SecurityLayer::new(self.clone(), checks)
    }

    /// Only the host check.
    pub fn host_layer(&self) -> crate::service::SecurityLayer {
        self.layer_with(Checks {
            host: true,
            ..Checks::NONE
        })
    }

    /// Only the TLS redirect and HSTS.
    pub fn tls_layer(&self) -> crate::service::SecurityLayer {
        self.layer_with(Checks {
            tls: true,
            ..Checks::NONE
        })
    }

    /// Only CORS.
    pub fn cors_layer(&self) -> crate::service::SecurityLayer {
        self.layer_with(Checks {
            cors: true,
            ..Checks::NONE
        })
    }

    /// Only the CSRF check.
    pub fn csrf_layer(&self) -> crate::service::SecurityLayer {
        self.layer_with(Checks {
            csrf: true,
            ..Checks::NONE
        })
    }

    /// Only the security response headers.
    pub fn headers_layer(&self) -> crate::service::SecurityLayer {
        self.layer_with(Checks {
            headers: true,
            ..Checks::NONE
        })
    }

    /// Only cookie hardening.
    pub fn cookies_layer(&self) -> crate::service::SecurityLayer {
        self.layer_with(Checks {
            cookies: true,
            ..Checks::NONE
        })
    }
}

/// Whether the request is gRPC (`application/grpc`, `application/grpc+proto`, ...;
/// not gRPC-Web, which browsers send).
fn is_grpc(parts: &request::Parts) -> bool {
    parts.headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.len() >= 16
            && v.get(..16)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"application/grpc"))
            && !v.get(16..).is_some_and(|rest| rest.starts_with(b"-web"))
    })
}

fn is_safe_method(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The peer IP from request extensions ([`PeerAddr`], or axum's `ConnectInfo`).
pub fn peer_ip(parts: &request::Parts) -> Option<IpAddr> {
    if let Some(PeerAddr(a)) = parts.extensions.get::<PeerAddr>() {
        return Some(a.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(a)) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(a.ip());
    }
    None
}

/// The request's host: `(raw, domain)` with `domain` lowercased and port-stripped as
/// Django's `split_domain_port` does. Rejects a missing Host, duplicate Host headers,
/// an authority (HTTP/2 `:authority` or absolute-form target) that disagrees with Host,
/// and malformed values.
fn request_host(parts: &request::Parts) -> Result<(&str, Cow<'_, str>), Rejection> {
    let bad = |code: &'static str, reason: String, fix: &'static str| {
        Rejection::new(Check::Host, code, reason, fix)
    };
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let header_host = hosts.next();
    if hosts.next().is_some() {
        return Err(bad(
            "host-duplicate",
            "Multiple Host headers".into(),
            "send exactly one Host header",
        ));
    }
    let authority = parts.uri.authority().map(|a| a.as_str());
    let raw = match (header_host, authority) {
        (Some(h), auth) => {
            let Ok(h) = h.to_str() else {
                return Err(bad(
                    "host-malformed",
                    "Invalid HTTP_HOST header: not ASCII".into(),
                    "send a Host header of ASCII letters, digits, dots, hyphens and a port",
                ));
            };
            if let Some(a) = auth
                && !a.eq_ignore_ascii_case(h)
            {
                return Err(bad(
                    "host-conflict",
                    format!(
                        "Host header {h:?} disagrees with the request target's authority {a:?}"
                    ),
                    "send the same host in the request line (or :authority) and the Host header",
                ));
            }
            h
        }
        (None, Some(a)) => a,
        (None, None) => {
            return Err(bad(
                "host-missing",
                "Missing Host header".into(),
                "send a Host header (HTTP/1.0 clients must add one)",
            ));
        }
    };
    if raw.bytes().any(|b| b.is_ascii_uppercase()) {
        // Django lowercases before validating; mixed-case hosts take this (rare)
        // allocating path.
        let lower = raw.to_ascii_lowercase();
        return match split_domain_port(&lower) {
            Some((domain, _)) if !domain.is_empty() => Ok((raw, Cow::Owned(domain.to_owned()))),
            _ => Err(malformed(raw)),
        };
    }
    match split_domain_port(raw) {
        Some((domain, _)) if !domain.is_empty() => Ok((raw, Cow::Borrowed(domain))),
        _ => Err(malformed(raw)),
    }
}

fn malformed(raw: &str) -> Rejection {
    Rejection::new(
        Check::Host,
        "host-malformed",
        format!(
            "Invalid HTTP_HOST header: {raw:?}. The domain name provided is not valid according to RFC 1034/1035."
        ),
        "send a Host header of letters, digits, dots, hyphens and an optional port",
    )
}

/// Percent-encodes a `grpc-message` (gRPC spec: printable ASCII except `%` as is).
fn grpc_percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `urlsplit`'s scheme and netloc, for Referer values: `None` when either is empty.
fn split_url(url: &str) -> Option<(&str, &str)> {
    let colon = url.find(':')?;
    let scheme = url.get(..colon)?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let rest = url.get(colon + 1..)?.strip_prefix("//")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let netloc = rest.get(..end)?;
    if netloc.is_empty() {
        return None;
    }
    Some((scheme, netloc))
}

/// Appends `origin` to `Vary` unless it is there (or `Vary: *`), like Django's
/// `patch_vary_headers`.
fn add_vary_origin(headers: &mut HeaderMap) {
    let mut present = false;
    for v in headers.get_all(header::VARY) {
        for token in v.as_bytes().split(|b| *b == b',') {
            let t = token.trim_ascii();
            if t == b"*" || t.eq_ignore_ascii_case(b"origin") {
                present = true;
            }
        }
    }
    if !present {
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
}
