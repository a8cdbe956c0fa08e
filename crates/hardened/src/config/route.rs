//! The `routes:` section: per-route overrides of the derived policy.
//!
//! ```
//! use hardened::config::{Config, RouteConfig};
//!
//! let mut cfg = Config::production(["example.com"])?;
//! cfg.routes.push(RouteConfig::new("/embed/*").frame_ancestors(["https://partner.example"]));
//! cfg.routes.push(RouteConfig::new("/hooks/{id}").methods(["POST"]).csrf_exempt());
//! let security = hardened::Security::from_config(&cfg, &hardened::probe::RuntimeProbe::none())?;
//! assert_eq!(security.policy().routes.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::Serialize;

use super::{HeaderOverride, HeadersConfig, ReportOnly, Source};

/// `csrf:` of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CsrfMode {
    /// The check runs, even where `csrf_exempt_paths` exempts the path.
    Enforce,
    /// No CSRF check (a webhook signed by its sender; Django's `@csrf_exempt`).
    Exempt,
}

/// `host_check:` of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HostCheckMode {
    /// The allow-list applies (the default).
    Enforce,
    /// Any well-formed Host is accepted, as on `health_check_paths`: a missing,
    /// duplicate, malformed or conflicting Host is still refused.
    SkipAllowlist,
}

/// `cross_site:` of a route: whether Fetch Metadata's resource isolation
/// (`fetch_metadata:`) applies to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CrossSiteMode {
    /// The check applies as everywhere (the default).
    Enforce,
    /// Any site may load or call the route (a public API, an embeddable resource): the
    /// resource isolation check is off on it. CORS and CSRF still apply.
    Allow,
}

/// `cors:` of a route: unset fields keep the derived value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RouteCors {
    /// Allowed origins (`https://partner.example`, or `*` for any origin without
    /// credentials); `None` keeps the derived list.
    pub origins: Option<Vec<String>>,
    /// Add `origins` to the derived list instead of replacing it.
    pub extend: bool,
    /// `Access-Control-Allow-Credentials: true`; `None`: the derived value (true),
    /// or false with `origins: ["*"]`.
    pub allow_credentials: Option<bool>,
    /// Methods a preflight may ask for.
    pub allow_methods: Option<Vec<String>>,
    /// Request headers a preflight may ask for.
    pub allow_headers: Option<Vec<String>>,
    /// Response headers scripts of allowed origins may read.
    pub expose_headers: Option<Vec<String>>,
    /// `Access-Control-Max-Age` of preflight answers, seconds.
    pub max_age: Option<u64>,
}

/// One `routes:` entry: a path pattern, its methods, and what it changes. Every
/// override is optional; what a route does not set is the global policy's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RouteConfig {
    /// The path pattern (`/embed/*`, `/hooks/{id}`).
    pub path: String,
    /// The methods the route is for (upper case); empty: every method.
    pub methods: Vec<String>,
    /// Header overrides, as the top-level `headers:` (`null` removes one).
    pub headers: HeadersConfig,
    /// `headers.frame_ancestors`: the origins that may frame the route's pages, as CSP
    /// `frame-ancestors` (X-Frame-Options, which cannot name origins, is dropped).
    pub frame_ancestors: Option<Vec<String>>,
    /// CORS overrides.
    pub cors: Option<RouteCors>,
    /// `csrf: enforce|exempt`.
    pub csrf: Option<CsrfMode>,
    /// `host_check: enforce|skip_allowlist`.
    pub host_check: Option<HostCheckMode>,
    /// `ssl_redirect: false`: no TLS redirect on this route (HSTS stays).
    pub ssl_redirect: Option<bool>,
    /// The checks that only report on this route.
    pub report_only: Option<ReportOnly>,
    /// `cross_site: allow|enforce`: whether Fetch Metadata's resource isolation applies.
    pub cross_site: Option<CrossSiteMode>,
    /// Where the entry was written (its line), when read from a file.
    #[serde(skip)]
    pub source: Option<Source>,
}

impl RouteConfig {
    /// A route for `path` that changes nothing yet.
    pub fn new(path: impl Into<String>) -> RouteConfig {
        RouteConfig {
            path: path.into(),
            ..RouteConfig::default()
        }
    }

    /// Only for these methods.
    #[must_use]
    pub fn methods<I, S>(mut self, methods: I) -> RouteConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.methods = methods.into_iter().map(Into::into).collect();
        self
    }

    /// Framable by these origins (CSP `frame-ancestors`; X-Frame-Options dropped).
    #[must_use]
    pub fn frame_ancestors<I, S>(mut self, origins: I) -> RouteConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.frame_ancestors = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Any site may load or call the route: Fetch Metadata's resource isolation is off
    /// on it (`cross_site: allow`).
    #[must_use]
    pub fn cross_site_allow(mut self) -> RouteConfig {
        self.cross_site = Some(CrossSiteMode::Allow);
        self
    }

    /// No CSRF check (Django's `@csrf_exempt`).
    #[must_use]
    pub fn csrf_exempt(mut self) -> RouteConfig {
        self.csrf = Some(CsrfMode::Exempt);
        self
    }

    /// No X-Frame-Options header (Django's `@xframe_options_exempt`).
    #[must_use]
    pub fn xframe_options_exempt(mut self) -> RouteConfig {
        self.headers.x_frame_options = HeaderOverride::Remove;
        self
    }

    /// Sets the CORS overrides.
    #[must_use]
    pub fn cors(mut self, cors: RouteCors) -> RouteConfig {
        self.cors = Some(cors);
        self
    }

    /// Sets the header overrides.
    #[must_use]
    pub fn headers(mut self, headers: HeadersConfig) -> RouteConfig {
        self.headers = headers;
        self
    }

    /// The entry's name in messages: `routes[i] (/path)`.
    pub(crate) fn key(i: usize) -> String {
        format!("routes[{i}]")
    }
}

impl RouteCors {
    /// CORS for any origin, without credentials (a public API).
    pub fn any_origin() -> RouteCors {
        RouteCors {
            origins: Some(vec!["*".into()]),
            allow_credentials: Some(false),
            ..RouteCors::default()
        }
    }

    /// With or without `Access-Control-Allow-Credentials: true`.
    #[must_use]
    pub fn allow_credentials(mut self, on: bool) -> RouteCors {
        self.allow_credentials = Some(on);
        self
    }

    /// CORS for exactly these origins (replacing the derived list).
    pub fn origins<I, S>(origins: I) -> RouteCors
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RouteCors {
            origins: Some(origins.into_iter().map(Into::into).collect()),
            ..RouteCors::default()
        }
    }
}
