//! Per-route policy: each `routes:` entry's effective headers and CORS rules (the
//! global ones with the route's overrides), what it weakens, and the problems that
//! refuse a route: an unparseable pattern or value, an entry that contradicts itself,
//! two entries that tie on a path, and in production and staging a catch-all route
//! that weakens anything.

use serde::Serialize;

use crate::config::{
    Config, CsrfMode, HeaderOverride, HeadersConfig, HostCheckMode, Problem, ProblemKind,
    RouteConfig,
};
use crate::domain::{self, DomainEntry};
use crate::enforce::RoutePattern;

use super::validate::FOREIGN_PATHS;
use super::{CorsRules, HeaderRules, Policy, SubdomainPattern};

/// One route of the policy: its pattern and methods, what it overrides as written,
/// and its effective headers and CORS rules where it changes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RoutePolicy {
    /// The path pattern.
    pub path: String,
    /// The methods (empty: every method).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Where the entry was written (`config.yaml:12`), or `code`.
    pub defined_at: String,
    /// The overrides as configured.
    #[serde(skip)]
    pub overrides: RouteConfig,
    /// The route's security headers, when it overrides any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<HeaderRules>,
    /// The route's CORS rules, when it overrides them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsRules>,
    /// `csrf:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf: Option<CsrfMode>,
    /// `host_check:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_check: Option<HostCheckMode>,
    /// `ssl_redirect: false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_redirect: Option<bool>,
    /// The checks that only report on this route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_only: Option<crate::config::ReportOnly>,
    /// `cross_site:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_site: Option<crate::config::CrossSiteMode>,
}

impl RoutePolicy {
    /// What the route weakens against the global policy, each with why it matters;
    /// empty for a route that only tightens.
    pub fn weakenings(&self) -> Vec<Weakening> {
        weakenings(&self.overrides)
    }

    /// The overrides as `(key, value)` lines, in the file's spelling: `csrf` /
    /// `exempt`, `headers.frame_ancestors` / `https://partner.example`, ...
    pub fn override_lines(&self) -> Vec<(String, String)> {
        let r = &self.overrides;
        let mut out = Vec::new();
        if !r.methods.is_empty() {
            out.push(("methods".to_owned(), r.methods.join(", ")));
        }
        for (key, o) in header_overrides(&r.headers) {
            match o {
                HeaderOverride::Default => {}
                HeaderOverride::Remove => out.push((key.to_owned(), "null (removed)".into())),
                HeaderOverride::Set(v) => out.push((key.to_owned(), v.clone())),
            }
        }
        if let Some(f) = &r.frame_ancestors {
            out.push(("headers.frame_ancestors".into(), f.join(" ")));
        }
        if let Some(c) = &r.cors {
            if let Some(o) = &c.origins {
                let key = if c.extend {
                    "cors.origins (extend)"
                } else {
                    "cors.origins"
                };
                out.push((key.into(), o.join(", ")));
            }
            if let Some(v) = c.allow_credentials {
                out.push(("cors.allow_credentials".into(), v.to_string()));
            }
            let lists = [
                ("cors.allow_methods", &c.allow_methods),
                ("cors.allow_headers", &c.allow_headers),
                ("cors.expose_headers", &c.expose_headers),
            ];
            for (k, l) in lists {
                if let Some(l) = l {
                    out.push((k.into(), l.join(", ")));
                }
            }
            if let Some(v) = c.max_age {
                out.push(("cors.max_age".into(), v.to_string()));
            }
        }
        if let Some(c) = r.csrf {
            let v = match c {
                CsrfMode::Enforce => "enforce",
                CsrfMode::Exempt => "exempt",
            };
            out.push(("csrf".into(), v.into()));
        }
        if let Some(h) = r.host_check {
            let v = match h {
                HostCheckMode::Enforce => "enforce",
                HostCheckMode::SkipAllowlist => "skip_allowlist",
            };
            out.push(("host_check".into(), v.into()));
        }
        if let Some(v) = r.ssl_redirect {
            out.push(("ssl_redirect".into(), v.to_string()));
        }
        if let Some(ro) = r.report_only {
            out.push(("report_only".into(), format!("[{}]", ro.names().join(", "))));
        }
        if let Some(c) = r.cross_site {
            let v = match c {
                crate::config::CrossSiteMode::Allow => "allow",
                _ => "enforce",
            };
            out.push(("cross_site".into(), v.into()));
        }
        out
    }
}

/// One way a route weakens the global policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Weakening {
    /// The key, e.g. `csrf` or `headers.frame_ancestors`.
    pub key: &'static str,
    /// What it lets through.
    pub what: String,
}

/// The CORS origins of a route's `origins:` list: `*`, origins and subdomain patterns.
#[derive(Debug, Default)]
struct RouteOrigins {
    any: bool,
    exact: Vec<domain::Origin>,
    subdomains: Vec<SubdomainPattern>,
}

/// Parses `origins`; the entries that do not parse, with why.
fn route_origins(origins: &[String]) -> (RouteOrigins, Vec<(usize, String)>) {
    let mut out = RouteOrigins::default();
    let mut bad = Vec::new();
    for (i, s) in origins.iter().enumerate() {
        if s.trim() == "*" {
            out.any = true;
            continue;
        }
        match domain::parse_entry(s) {
            Ok(DomainEntry::Origin(o)) => out.exact.push(o),
            Ok(DomainEntry::Subdomains {
                scheme,
                domain,
                port,
            }) => out.subdomains.push(SubdomainPattern {
                scheme,
                domain,
                port,
            }),
            Ok(DomainEntry::Any) => out.any = true,
            Err(e) => bad.push((i, e.to_string())),
        }
    }
    (out, bad)
}

/// The effective route policies of `cfg`, over the global `headers` and `cors`.
/// Entries validation refuses (an unparseable pattern) are left out, so the checklist
/// can judge an invalid configuration too.
pub(crate) fn derive_routes(
    cfg: &Config,
    headers: &HeaderRules,
    cors: &CorsRules,
) -> Vec<RoutePolicy> {
    cfg.routes
        .iter()
        .filter(|r| RoutePattern::parse(&r.path).is_ok())
        .map(|r| {
            let mut route = derive_route(r, headers, cors);
            point_route_headers(
                &mut route,
                cfg.reports.as_ref(),
                cfg.environment.is_strict(),
            );
            route
        })
        .collect()
}

/// A route's own headers pointed at the collector (`reports:`), as the global ones are:
/// a route's CSP replaces the global one, its `report-uri` and `report-to` included.
pub(crate) fn point_route_headers(
    route: &mut RoutePolicy,
    reports: Option<&crate::reports::ReportsConfig>,
    strict: bool,
) {
    if let Some(h) = route.headers.take() {
        route.headers = Some(crate::reports::point_headers(h, reports, strict));
    }
}

/// The effective policy of one route over the global `headers` and `cors`.
pub(crate) fn derive_route(
    r: &RouteConfig,
    global_headers: &HeaderRules,
    global_cors: &CorsRules,
) -> RoutePolicy {
    let touches_headers = r.headers != HeadersConfig::default() || r.frame_ancestors.is_some();
    let headers = touches_headers.then(|| {
        let mut h = global_headers.clone();
        super::derive::apply_header_overrides(&mut h, &r.headers);
        if let Some(sources) = &r.frame_ancestors {
            h.content_security_policy = Some(with_frame_ancestors(
                h.content_security_policy.as_deref(),
                sources,
            ));
            h.x_frame_options = None;
        }
        h
    });
    let cors = r.cors.as_ref().map(|c| {
        let mut out = global_cors.clone();
        if let Some(list) = &c.origins {
            let (parsed, _) = route_origins(list);
            // `*` keeps the derived origins: they still name the site's own origins,
            // which a WebSocket handshake (cookies and all) needs named.
            if !c.extend && !parsed.any {
                out.origins.clear();
                out.subdomains.clear();
                out.origin_regexes.clear();
                out.loopback_any_port = false;
            }
            for o in parsed.exact {
                if !out.origins.contains(&o) {
                    out.origins.push(o);
                }
            }
            for s in parsed.subdomains {
                if !out.subdomains.contains(&s) {
                    out.subdomains.push(s);
                }
            }
            out.any_origin = parsed.any;
            if parsed.any {
                out.allow_credentials = false;
            }
        }
        if let Some(v) = c.allow_credentials {
            out.allow_credentials = v;
        }
        if let Some(v) = &c.allow_methods {
            out.allow_methods = v.iter().map(|m| m.trim().to_ascii_uppercase()).collect();
        } else if !r.methods.is_empty() {
            // A route for some methods opens CORS for those only: a preflight answered
            // with every method would be cached for the others too.
            let mine: Vec<String> = r
                .methods
                .iter()
                .map(|m| m.trim().to_ascii_uppercase())
                .collect();
            out.allow_methods.retain(|m| mine.contains(m));
        }
        if let Some(v) = &c.allow_headers {
            out.allow_headers = v.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
        }
        if let Some(v) = &c.expose_headers {
            out.expose_headers = v.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
        }
        if let Some(v) = c.max_age {
            out.max_age = v;
        }
        out
    });
    RoutePolicy {
        path: r.path.clone(),
        methods: r.methods.clone(),
        defined_at: r
            .source
            .as_ref()
            .map_or_else(|| "code".to_owned(), |s| s.to_string()),
        overrides: r.clone(),
        headers,
        cors,
        csrf: r.csrf,
        host_check: r.host_check,
        ssl_redirect: r.ssl_redirect,
        report_only: r.report_only,
        cross_site: r.cross_site,
    }
}

/// `csp` with its `frame-ancestors` directive replaced by one listing `sources`
/// (`'none'` for an empty list).
pub(crate) fn with_frame_ancestors(csp: Option<&str>, sources: &[String]) -> String {
    let mut out: Vec<String> = csp
        .unwrap_or("")
        .split(';')
        .map(str::trim)
        .filter(|d| {
            !d.is_empty()
                && !d
                    .split_ascii_whitespace()
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case("frame-ancestors"))
        })
        .map(str::to_owned)
        .collect();
    let list = if sources.is_empty() {
        "'none'".to_owned()
    } else {
        sources.join(" ")
    };
    out.push(format!("frame-ancestors {list}"));
    out.join("; ")
}

/// Whether a `frame-ancestors` source lets (nearly) any site frame the page: `*`, a
/// scheme alone (`https:`), a wildcard host of any site (`https://*`) or of a whole
/// top-level domain (`*.com`).
pub(crate) fn frame_source_is_wide(source: &str) -> bool {
    let s = source.trim().to_ascii_lowercase();
    let host = s.split_once("://").map_or(s.as_str(), |(_, h)| h);
    let host = host.split([':', '/']).next().unwrap_or(host);
    s == "*"
        || s.ends_with(':')
        || host == "*"
        || host
            .strip_prefix("*.")
            .is_some_and(|rest| !rest.contains('.'))
}

/// Whether a (lowercased) CSP replacing the global one on a route opens script
/// execution: `'unsafe-inline'`, `'unsafe-eval'` or `'unsafe-hashes'`, a `*`, a scheme
/// (`https:`, `data:`, `blob:`), any host (`https://*`) or a whole top-level domain (`*.com`), or no `script-src` and no `default-src` at all (a policy of
/// `frame-ancestors 'none'` alone drops every script restriction).
fn csp_is_weak(lower: &str) -> bool {
    let tokens = || {
        lower
            .split([' ', ';', '\t'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    let unsafe_keyword = tokens().any(|t| {
        matches!(
            t,
            "'unsafe-inline'"
                | "'unsafe-eval'"
                | "'unsafe-hashes'"
                | "data:"
                | "blob:"
                | "filesystem:"
        ) || (!t.starts_with('\'') && frame_source_is_wide(t))
    });
    let names: Vec<&str> = lower
        .split(';')
        .filter_map(|d| d.split_ascii_whitespace().next())
        .collect();
    unsafe_keyword
        || !names
            .iter()
            .any(|n| *n == "script-src" || *n == "default-src")
}

/// What `r` weakens (see [`RoutePolicy::weakenings`]).
pub(crate) fn weakenings(r: &RouteConfig) -> Vec<Weakening> {
    let mut out = Vec::new();
    let mut push = |key: &'static str, what: String| out.push(Weakening { key, what });
    if r.csrf == Some(CsrfMode::Exempt) {
        push(
            "csrf",
            "CSRF exempt: a cross-site form or script may send unsafe requests with the visitor's cookies".into(),
        );
    }
    if r.host_check == Some(HostCheckMode::SkipAllowlist) {
        push(
            "host_check",
            "any Host is accepted: links and emails built from the Host header can point anywhere"
                .into(),
        );
    }
    if r.ssl_redirect == Some(false) {
        push(
            "ssl_redirect",
            "plain HTTP is served, not redirected to https".into(),
        );
    }
    if r.cross_site == Some(crate::config::CrossSiteMode::Allow) {
        push(
            "cross_site",
            "any site may load or call it: Fetch Metadata's resource isolation is off".into(),
        );
    }
    if r.report_only.is_some_and(|ro| ro.any()) {
        push(
            "report_only",
            "checks only log what they would reject".into(),
        );
    }
    if let Some(sources) = &r.frame_ancestors {
        let any = sources.iter().any(|s| frame_source_is_wide(s));
        push(
            "headers.frame_ancestors",
            if any {
                "`frame-ancestors *`: any site may frame the pages (clickjacking)".into()
            } else {
                format!("framable by {}", sources.join(", "))
            },
        );
    }
    for (key, o) in header_overrides(&r.headers) {
        match o {
            HeaderOverride::Remove => push(key, "the header is removed".into()),
            HeaderOverride::Set(v) => {
                // Browsers read keywords and values case-insensitively.
                let lower = v.to_ascii_lowercase();
                let weak = match key {
                    "headers.x_frame_options" => lower.trim() == "sameorigin",
                    "headers.cross_origin_resource_policy" => lower.trim() == "cross-origin",
                    "headers.cross_origin_opener_policy"
                    | "headers.cross_origin_embedder_policy" => lower.trim() == "unsafe-none",
                    "headers.referrer_policy" => lower
                        .split(',')
                        .any(|p| matches!(p.trim(), "unsafe-url" | "no-referrer-when-downgrade")),
                    "headers.content_security_policy" => csp_is_weak(&lower),
                    "headers.permissions_policy" => {
                        lower.contains("=*") || lower.contains("= *") || lower.contains("(*)")
                    }
                    _ => false,
                };
                if weak {
                    push(key, format!("set to {v:?}"));
                }
            }
            HeaderOverride::Default => {}
        }
    }
    if let Some(c) = &r.cors {
        if let Some(list) = &c.origins {
            let any = list.iter().any(|o| o.trim() == "*");
            push(
                "cors.origins",
                if any {
                    "any origin may read the responses".into()
                } else {
                    format!(
                        "{} may read the responses: {}",
                        if c.extend { "also" } else { "only" },
                        list.join(", ")
                    )
                },
            );
        }
        if c.allow_credentials == Some(true) {
            push(
                "cors.allow_credentials",
                "allowed origins read responses with the visitor's cookies".into(),
            );
        }
    }
    out
}

/// Every problem of the configuration's routes: an unparseable pattern, method, origin
/// or header value (for routes set in code: the file's typer reports these as it
/// reads), an entry that contradicts itself, two entries that tie, and in production
/// and staging a catch-all route that weakens anything.
pub(crate) fn route_problems(cfg: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let strict = cfg.environment.is_strict();
    let mut patterns: Vec<Option<RoutePattern>> = Vec::new();
    for (i, r) in cfg.routes.iter().enumerate() {
        let key = RouteConfig::key(i);
        let at = r.source.clone();
        let mut problem = |kind, sub: &str, message: String, fix: &str, value: Option<String>| {
            let k = if sub.is_empty() {
                key.clone()
            } else {
                format!("{key}.{sub}")
            };
            let mut p = Problem::new(kind, k, message, fix).at(at.clone());
            if let Some(v) = value {
                p = p.with_value(v);
            }
            out.push(p);
        };
        let pattern = match RoutePattern::parse(&r.path) {
            Ok(p) => Some(p),
            Err(e) => {
                problem(
                    ProblemKind::InvalidPath,
                    "path",
                    e,
                    "write a pattern such as `/embed`, `/hooks/{id}` or `/api/*`",
                    Some(format!("{:?}", r.path)),
                );
                None
            }
        };
        for (j, m) in r.methods.iter().enumerate() {
            if m.is_empty() || http::Method::from_bytes(m.as_bytes()).is_err() {
                problem(
                    ProblemKind::InvalidMethod,
                    &format!("methods[{j}]"),
                    "not a valid HTTP method".into(),
                    "use methods such as GET, POST, PUT, PATCH, DELETE",
                    Some(format!("{m:?}")),
                );
            }
        }
        // Header values set in code pass the file's rules too.
        for (key, o) in header_overrides(&r.headers) {
            if let HeaderOverride::Set(v) = o
                && !header_value_ok(key, v)
            {
                problem(
                    ProblemKind::InvalidHeaderValue,
                    key,
                    "not a value this header takes".into(),
                    "use a valid value (see the top-level `headers:`), or null to remove the header",
                    Some(format!("{v:?}")),
                );
            }
        }
        if let Some(sources) = &r.frame_ancestors {
            for (j, s) in sources.iter().enumerate() {
                if s.trim().is_empty()
                    || s.contains([';', ',', ' '])
                    || http::HeaderValue::from_str(s).is_err()
                {
                    problem(
                        ProblemKind::InvalidHeaderValue,
                        &format!("headers.frame_ancestors[{j}]"),
                        "not a CSP source".into(),
                        "write one origin per item, e.g. [https://partner.example, \"'self'\"]",
                        Some(format!("{s:?}")),
                    );
                }
            }
            if matches!(r.headers.x_frame_options, HeaderOverride::Set(_)) {
                problem(
                    ProblemKind::RouteConflict,
                    "headers",
                    "`frame_ancestors` lets origins frame the route and `x_frame_options` forbids it".into(),
                    "keep `frame_ancestors` (X-Frame-Options cannot name origins; it is dropped on the route) or remove it",
                    None,
                );
            }
            if let HeaderOverride::Set(csp) = &r.headers.content_security_policy
                && csp.to_ascii_lowercase().contains("frame-ancestors")
            {
                problem(
                    ProblemKind::RouteConflict,
                    "headers",
                    "`frame_ancestors` and a `frame-ancestors` directive in `content_security_policy` both say who may frame the route".into(),
                    "say it once: remove one of them",
                    None,
                );
            }
        }
        if let Some(c) = &r.cors {
            let any = c
                .origins
                .as_ref()
                .is_some_and(|l| l.iter().any(|o| o.trim() == "*"));
            if let Some(list) = &c.origins {
                let (_, bad) = route_origins(list);
                for (j, why) in bad {
                    problem(
                        ProblemKind::InvalidDomain,
                        &format!("cors.origins[{j}]"),
                        why,
                        "write origins such as `https://partner.example`, or `*` for any origin (without credentials)",
                        list.get(j).map(|s| format!("{s:?}")),
                    );
                }
            } else if c.extend {
                problem(
                    ProblemKind::RouteConflict,
                    "cors.extend",
                    "`extend` adds `origins` to the derived list, and there are none".into(),
                    "add `origins: [https://partner.example]`, or remove `extend`",
                    None,
                );
            }
            if any && c.allow_credentials == Some(true) {
                problem(
                    ProblemKind::RouteConflict,
                    "cors",
                    "`origins: [\"*\"]` with `allow_credentials: true` would let every site read responses with the visitor's cookies".into(),
                    "list the origins that need credentials, or set `allow_credentials: false`",
                    None,
                );
            }
            if any && c.extend {
                problem(
                    ProblemKind::RouteConflict,
                    "cors",
                    "`*` already allows every origin: there is nothing to extend".into(),
                    "remove `extend`",
                    None,
                );
            }
            let lists = [
                ("cors.allow_methods", &c.allow_methods, true),
                ("cors.allow_headers", &c.allow_headers, false),
                ("cors.expose_headers", &c.expose_headers, false),
            ];
            for (k, list, methods) in lists {
                for (j, s) in list.iter().flatten().enumerate() {
                    let ok = if methods {
                        !s.trim().is_empty()
                            && http::Method::from_bytes(s.trim().as_bytes()).is_ok()
                    } else {
                        http::HeaderName::from_bytes(s.trim().as_bytes()).is_ok()
                    };
                    if !ok {
                        problem(
                            if methods {
                                ProblemKind::InvalidMethod
                            } else {
                                ProblemKind::InvalidHeaderName
                            },
                            &format!("{k}[{j}]"),
                            if methods {
                                "not a valid HTTP method".into()
                            } else {
                                "not a valid header name".into()
                            },
                            "use tokens such as GET or content-type",
                            Some(format!("{s:?}")),
                        );
                    }
                }
            }
        }
        if r.ssl_redirect == Some(true) {
            problem(
                ProblemKind::WrongType,
                "ssl_redirect",
                "a route can only turn the TLS redirect off".into(),
                "write `ssl_redirect: false`, or remove the key",
                None,
            );
        }
        let ro = r.report_only.unwrap_or_default();
        if r.csrf == Some(CsrfMode::Exempt) && ro.csrf {
            problem(
                ProblemKind::RouteConflict,
                "report_only",
                "the route is CSRF exempt and reports CSRF only: there is no check to report"
                    .into(),
                "remove `csrf` from `report_only`, or `csrf: exempt`",
                None,
            );
        }
        if r.ssl_redirect == Some(false) && ro.tls {
            problem(
                ProblemKind::RouteConflict,
                "report_only",
                "the route has no TLS redirect and reports it only: there is no redirect to report"
                    .into(),
                "remove `tls` from `report_only`, or `ssl_redirect: false`",
                None,
            );
        }
        if strict && pattern.as_ref().is_some_and(is_catch_all) {
            for w in weakenings(r) {
                problem(
                    ProblemKind::CatchAll,
                    w.key,
                    format!(
                        "a route that matches every path may not weaken anything in {}: {}",
                        cfg.environment, w.what
                    ),
                    "give the route the path that needs it, e.g. `/embed/*` or `/hooks/{id}`",
                    Some(format!("{:?}", r.path)),
                );
            }
        }
        patterns.push(pattern);
    }
    // Ties: the same rank on one path, with a method in common.
    for (j, b) in cfg.routes.iter().enumerate() {
        for (i, a) in cfg.routes.iter().enumerate().take(j) {
            let (Some(Some(pa)), Some(Some(pb))) = (patterns.get(i), patterns.get(j)) else {
                continue;
            };
            let overlap = a.methods.is_empty()
                || b.methods.is_empty()
                || a.methods.iter().any(|m| b.methods.contains(m));
            if pa.ties_with(pb) && overlap {
                let other = a.source.as_ref().map_or_else(
                    || RouteConfig::key(i),
                    |s| format!("{} ({s})", RouteConfig::key(i)),
                );
                out.push(
                    Problem::new(
                        ProblemKind::RouteConflict,
                        format!("{}.path", RouteConfig::key(j)),
                        format!(
                            "ties with {other} ({:?}): neither is more specific, so which applies would depend on their order",
                            a.path
                        ),
                        "merge the two entries, or give them disjoint `methods`",
                    )
                    .with_value(format!("{:?}", b.path))
                    .at(b.source.clone()),
                );
            }
        }
    }
    out
}

/// Whether a route pattern matches every path: parameters only (`/{a}/{b}`), or two
/// or more of the unrelated synthetic paths of decision 49 (`/` alone matches only the
/// root, `/account/delete` only itself).
fn is_catch_all(p: &RoutePattern) -> bool {
    p.is_parameters_only() || FOREIGN_PATHS.iter().filter(|f| p.matches(f)).count() >= 2
}

/// The header overrides of `h` by key (`headers.x_frame_options`).
fn header_overrides(h: &HeadersConfig) -> [(&'static str, &HeaderOverride); 8] {
    [
        (
            "headers.content_security_policy",
            &h.content_security_policy,
        ),
        (
            "headers.content_security_policy_report_only",
            &h.content_security_policy_report_only,
        ),
        ("headers.permissions_policy", &h.permissions_policy),
        (
            "headers.cross_origin_opener_policy",
            &h.cross_origin_opener_policy,
        ),
        (
            "headers.cross_origin_resource_policy",
            &h.cross_origin_resource_policy,
        ),
        (
            "headers.cross_origin_embedder_policy",
            &h.cross_origin_embedder_policy,
        ),
        ("headers.referrer_policy", &h.referrer_policy),
        ("headers.x_frame_options", &h.x_frame_options),
    ]
}

/// Whether `v` is a value the header of `key` (`headers.x_frame_options`) takes.
fn header_value_ok(key: &str, v: &str) -> bool {
    use super::{
        CrossOriginEmbedderPolicy, CrossOriginOpenerPolicy, CrossOriginResourcePolicy,
        FrameOptions, ReferrerPolicy,
    };
    match key.strip_prefix("headers.").unwrap_or(key) {
        "x_frame_options" => FrameOptions::parse(v).is_some(),
        "referrer_policy" => ReferrerPolicy::parse(v).is_some(),
        "cross_origin_opener_policy" => CrossOriginOpenerPolicy::parse(v).is_some(),
        "cross_origin_resource_policy" => CrossOriginResourcePolicy::parse(v).is_some(),
        "cross_origin_embedder_policy" => CrossOriginEmbedderPolicy::parse(v).is_some(),
        _ => !v.trim().is_empty() && http::HeaderValue::from_str(v).is_ok(),
    }
}

/// The refusals a policy changed in code after its derivation still gets: a
/// catch-all route that weakens anything in production or staging.
pub(crate) fn policy_route_problems(policy: &Policy) -> Vec<Problem> {
    let mut cfg = Config {
        environment: policy.environment,
        ..Config::default()
    };
    cfg.routes = policy.routes.iter().map(|r| r.overrides.clone()).collect();
    route_problems(&cfg)
}
