//! The routes as `show` prints them: each `routes:` entry with what it overrides and
//! the effective headers and CORS it gets, and the shorthand lists
//! (`csrf_exempt_paths`, `health_check_paths`) as the routes they mean.

use hardened::policy::{CorsRules, Policy};
use serde::Serialize;

use super::model::header_pairs;

/// One route, for every renderer.
#[derive(Serialize)]
pub(super) struct RouteView {
    pub(super) path: String,
    /// Where it was defined: `config.yaml:12`, `code`, or a shorthand list's entry.
    pub(super) defined_at: String,
    /// The overrides, `(key, value)`.
    pub(super) overrides: Vec<(String, String)>,
    /// The route's security headers, when it overrides any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) headers: Option<Vec<(&'static str, String)>>,
    /// The route's CORS rules, when it overrides them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cors: Option<CorsView>,
}

/// A route's effective CORS rules.
#[derive(Serialize)]
pub(super) struct CorsView {
    pub(super) origins: Vec<String>,
    pub(super) allow_credentials: bool,
    pub(super) allow_methods: Vec<String>,
    pub(super) allow_headers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) expose_headers: Vec<String>,
    pub(super) max_age: u64,
}

impl CorsView {
    fn new(c: &CorsRules) -> CorsView {
        let mut origins: Vec<String> = Vec::new();
        if c.any_origin {
            origins.push("*".into());
        }
        origins.extend(c.origins.iter().map(ToString::to_string));
        origins.extend(c.subdomains.iter().map(ToString::to_string));
        origins.extend(
            c.origin_regexes
                .iter()
                .map(|r| format!("regex {}", r.as_str())),
        );
        CorsView {
            origins,
            allow_credentials: c.allow_credentials,
            allow_methods: c.allow_methods.clone(),
            allow_headers: c.allow_headers.clone(),
            expose_headers: c.expose_headers.clone(),
            max_age: c.max_age,
        }
    }

    /// One line: `origins ...; credentials; methods ...`.
    pub(super) fn line(&self) -> String {
        format!(
            "{}; credentials {}; methods {}",
            self.origins.join(", "),
            if self.allow_credentials { "yes" } else { "no" },
            self.allow_methods.join(", ")
        )
    }
}

/// The routes of `p`: the `routes:` entries in order, then the shorthand lists.
pub(super) fn routes(p: &Policy) -> Vec<RouteView> {
    let mut out: Vec<RouteView> = p
        .routes
        .iter()
        .map(|r| RouteView {
            path: r.path.clone(),
            defined_at: r.defined_at.clone(),
            overrides: r.override_lines(),
            headers: r.headers.as_ref().map(header_pairs),
            cors: r.cors.as_ref().map(CorsView::new),
        })
        .collect();
    let shorthand = |key: &str, list: &[String], overrides: &[(&str, &str)]| {
        list.iter()
            .enumerate()
            .map(|(i, path)| RouteView {
                path: path.clone(),
                defined_at: format!("{key}[{i}]"),
                overrides: overrides
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                headers: None,
                cors: None,
            })
            .collect::<Vec<_>>()
    };
    out.extend(shorthand(
        "csrf_exempt_paths",
        &p.csrf.exempt_paths,
        &[("csrf", "exempt")],
    ));
    out.extend(shorthand(
        "health_check_paths",
        &p.health_check_paths,
        &[("host_check", "skip_allowlist"), ("ssl_redirect", "false")],
    ));
    out
}

/// What Django can say of each route, as comment lines of the settings fragment:
/// the view decorators to put on the views the route serves, and what has no Django
/// equivalent.
pub(super) fn django_notes(p: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    for r in &p.routes {
        let mut lines = Vec::new();
        let o = &r.overrides;
        if o.csrf == Some(hardened::config::CsrfMode::Exempt) {
            lines
                .push("@csrf_exempt (Django has no setting for it: decorate the views)".to_owned());
        }
        if let Some(h) = &r.headers {
            match (h.x_frame_options, o.frame_ancestors.is_some()) {
                (None, _) => lines.push("@xframe_options_exempt".to_owned()),
                (Some(f), _) if Some(f) != p.headers.x_frame_options => lines.push(format!(
                    "@xframe_options_{}",
                    f.as_str().to_ascii_lowercase()
                )),
                _ => {}
            }
            if h.content_security_policy != p.headers.content_security_policy {
                match &h.content_security_policy {
                    Some(csp) => lines.push(format!(
                        "@csp_override (Django 6.0) with the policy {csp:?} ({{nonce}}: CSP.NONCE)"
                    )),
                    None => {
                        lines.push("@csp_override({}) (Django 6.0): no CSP on these views".into())
                    }
                }
            }
            if h.content_security_policy_report_only
                != p.headers.content_security_policy_report_only
                && let Some(csp) = &h.content_security_policy_report_only
            {
                lines.push(format!(
                    "@csp_report_only_override (Django 6.0) with {csp:?}"
                ));
            }
            let others = [
                (
                    "Cross-Origin-Resource-Policy",
                    h.cross_origin_resource_policy != p.headers.cross_origin_resource_policy,
                ),
                (
                    "Cross-Origin-Opener-Policy",
                    h.cross_origin_opener_policy != p.headers.cross_origin_opener_policy,
                ),
                (
                    "Cross-Origin-Embedder-Policy",
                    h.cross_origin_embedder_policy != p.headers.cross_origin_embedder_policy,
                ),
                (
                    "Referrer-Policy",
                    h.referrer_policy != p.headers.referrer_policy,
                ),
                (
                    "Permissions-Policy",
                    h.permissions_policy != p.headers.permissions_policy,
                ),
            ];
            for (name, changed) in others {
                if changed {
                    lines.push(format!(
                        "{name} differs on this route: Django has no per-view setting (set it in the view's response)"
                    ));
                }
            }
        }
        if r.cors.is_some() {
            lines.push(
                "per-route CORS: django-cors-headers has no per-view origins (CORS_URLS_REGEX only limits where the global list applies)".to_owned(),
            );
        }
        if o.host_check == Some(hardened::config::HostCheckMode::SkipAllowlist) {
            lines.push("any Host: Django has no per-view ALLOWED_HOSTS".to_owned());
        }
        if o.ssl_redirect == Some(false) {
            lines.push("no TLS redirect: in SECURE_REDIRECT_EXEMPT above".to_owned());
        }
        if o.report_only.is_some_and(|r| r.any()) {
            lines.push("report-only checks: Django has no report-only mode".to_owned());
        }
        if lines.is_empty() {
            continue;
        }
        out.push(format!("{} ({}):", r.path, r.defined_at));
        out.extend(lines.into_iter().map(|l| format!("  {l}")));
    }
    out
}
