//! Derivation: `(Config, RuntimeProbe) -> Policy`, a pure function in two steps.
//!
//! [`validate`] reports every problem that makes a configuration unsafe to run, at once,
//! and returns a [`Valid`] configuration; [`derive_valid`] turns that into the
//! [`Policy`] and cannot fail. [`derive()`] does both.
//!
//! The [`Policy`] holds every effective setting as plain data, header values typed
//! ([`FrameOptions`], [`ReferrerPolicy`], [`Hsts`], ...) and serializable for
//! `hardened show`; [`crate::Security`] compiles it into matchers for requests, and the
//! deploy checklist judges it.
//!
//! ```
//! use hardened::config::Config;
//! use hardened::policy::derive;
//! use hardened::probe::RuntimeProbe;
//!
//! let cfg = Config::production(["example.com", "http://staging.com:8080"])?;
//! let policy = derive(&cfg, &RuntimeProbe::none())?;
//! assert_eq!(policy.allowed_hosts(), ["example.com", "staging.com"]);
//! let cors: Vec<String> = policy.cors.origins.iter().map(|o| o.to_string()).collect();
//! assert_eq!(cors, ["https://example.com", "http://staging.com:8080"]);
//! assert_eq!(policy.tls.hsts.as_ref().map(|h| h.seconds), Some(31_536_000));
//! assert_eq!(policy.headers.x_frame_options.map(|f| f.as_str()), Some("DENY"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod derive;
mod fetch_metadata;
mod routes;
pub(crate) mod validate;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use http::HeaderName;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Serialize, Serializer};

use crate::config::{Config, ConfigErrors, DockerMode, Environment, OriginRegex, ReportOnly};
use crate::domain::{Origin, Scheme};
use crate::probe::RuntimeProbe;

pub(crate) use crate::domain::Unique;
pub(crate) use derive::derive_as;
pub use derive::derive_valid;
pub use fetch_metadata::FetchMetadataRules;
pub use routes::{RoutePolicy, Weakening};
pub(crate) use routes::{derive_route, frame_source_is_wide, point_route_headers, route_problems};
#[cfg(any(feature = "config-file", test))]
pub(crate) use validate::problems;
pub use validate::{Valid, validate};

/// Validates and derives the policy. Pure: the same inputs always give the same policy.
///
/// # Errors
/// Every problem [`validate`] finds: production or staging without domains, `*`
/// outside development.
pub fn derive(cfg: &Config, probe: &RuntimeProbe) -> Result<Policy, ConfigErrors> {
    Ok(derive_valid(&validate(cfg)?, probe))
}

/// Loopback port ranges trusted for CSRF in development (front-end dev servers).
pub const DEV_CSRF_PORT_RANGES: [(u16, u16); 2] = [(3000, 5000), (8000, 9000)];

/// Loopback ports trusted for CSRF in development besides the ranges: the guide's
/// development frontends outside them (Vite's 5173).
pub const DEV_CSRF_PORTS: [u16; 1] = [5173];

/// One year, the HSTS max-age of production.
pub const HSTS_ONE_YEAR: u64 = 31_536_000;

/// The default internal networks: RFC 1918, loopback, link-local-free IPv6 ULA and
/// IPv6 loopback.
pub fn default_internal_networks() -> Vec<IpNet> {
    let v4 = |a, b, c, d, len| IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len));
    vec![
        v4(10, 0, 0, 0, 8),
        v4(172, 16, 0, 0, 12),
        v4(192, 168, 0, 0, 16),
        v4(127, 0, 0, 0, 8),
        IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
        IpNet::V6(Ipv6Net::new_assert(
            Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
            7,
        )),
    ]
}

/// A domain and all its subdomains on one scheme and port (`https://*.example.com`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SubdomainPattern {
    /// Scheme.
    pub scheme: Scheme,
    /// Parent domain, matched itself and with any subdomain.
    pub domain: String,
    /// Port; `None` for the scheme's default.
    pub port: Option<u16>,
}

impl std::fmt::Display for SubdomainPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://*.{}", self.scheme, self.domain)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl Serialize for SubdomainPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Host rules (Django's `ALLOWED_HOSTS`, plus real CIDR ranges).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HostRules {
    /// `*`: any host (development only).
    pub any: bool,
    /// Exact hosts: names, IPv4 literals, bracketed IPv6 literals.
    pub exact: Vec<String>,
    /// Suffix patterns: `.example.com` matches `example.com` and its subdomains.
    pub suffixes: Vec<String>,
    /// IP-literal hosts inside these networks are allowed.
    pub networks: Vec<IpNet>,
}

/// Renders a header-value enum: `as_str`, `Display` and `Serialize` as the header value.
macro_rules! header_value_enum {
    ($ty:ident { $($variant:ident => $value:literal,)* }) => {
        impl $ty {
            /// The header value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $value,)*
                }
            }

            /// The variant whose header value is `s` (ASCII case-insensitive).
            pub fn parse(s: &str) -> Option<Self> {
                [$($ty::$variant,)*]
                    .into_iter()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            }

            /// The header value, ready to send (no validation needed: every variant
            /// renders to visible ASCII).
            pub fn header_value(self) -> http::HeaderValue {
                http::HeaderValue::from_static(self.as_str())
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

/// `X-Frame-Options`: who may put the page in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameOptions {
    /// `DENY`: no one.
    Deny,
    /// `SAMEORIGIN`: pages of the same origin.
    SameOrigin,
}

header_value_enum!(FrameOptions {
    Deny => "DENY",
    SameOrigin => "SAMEORIGIN",
});

/// `Referrer-Policy`: how much of the URL a request's `Referer` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReferrerPolicy {
    /// `no-referrer`.
    NoReferrer,
    /// `no-referrer-when-downgrade`.
    NoReferrerWhenDowngrade,
    /// `origin`.
    Origin,
    /// `origin-when-cross-origin`.
    OriginWhenCrossOrigin,
    /// `same-origin`: the full URL to the same origin, nothing elsewhere.
    SameOrigin,
    /// `strict-origin`.
    StrictOrigin,
    /// `strict-origin-when-cross-origin`, the browsers' default.
    StrictOriginWhenCrossOrigin,
    /// `unsafe-url`.
    UnsafeUrl,
}

header_value_enum!(ReferrerPolicy {
    NoReferrer => "no-referrer",
    NoReferrerWhenDowngrade => "no-referrer-when-downgrade",
    Origin => "origin",
    OriginWhenCrossOrigin => "origin-when-cross-origin",
    SameOrigin => "same-origin",
    StrictOrigin => "strict-origin",
    StrictOriginWhenCrossOrigin => "strict-origin-when-cross-origin",
    UnsafeUrl => "unsafe-url",
});

/// `Cross-Origin-Opener-Policy`: whether cross-origin windows share a browsing context
/// group with the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CrossOriginOpenerPolicy {
    /// `unsafe-none`.
    UnsafeNone,
    /// `same-origin-allow-popups`.
    SameOriginAllowPopups,
    /// `same-origin`.
    SameOrigin,
    /// `noopener-allow-popups`.
    NoopenerAllowPopups,
}

header_value_enum!(CrossOriginOpenerPolicy {
    UnsafeNone => "unsafe-none",
    SameOriginAllowPopups => "same-origin-allow-popups",
    SameOrigin => "same-origin",
    NoopenerAllowPopups => "noopener-allow-popups",
});

/// `Cross-Origin-Resource-Policy`: which sites may load the response as a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CrossOriginResourcePolicy {
    /// `same-origin`.
    SameOrigin,
    /// `same-site`.
    SameSite,
    /// `cross-origin`.
    CrossOrigin,
}

header_value_enum!(CrossOriginResourcePolicy {
    SameOrigin => "same-origin",
    SameSite => "same-site",
    CrossOrigin => "cross-origin",
});

/// `Cross-Origin-Embedder-Policy`: which cross-origin resources the page may load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CrossOriginEmbedderPolicy {
    /// `require-corp`.
    RequireCorp,
    /// `credentialless`.
    Credentialless,
    /// `unsafe-none`.
    UnsafeNone,
}

header_value_enum!(CrossOriginEmbedderPolicy {
    RequireCorp => "require-corp",
    Credentialless => "credentialless",
    UnsafeNone => "unsafe-none",
});

/// `X-XSS-Protection`: the legacy XSS auditor of old browsers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum XssProtection {
    /// `0`: the auditor off (it caused more harm than it prevented).
    Disable,
    /// `1; mode=block`.
    Block,
}

header_value_enum!(XssProtection {
    Disable => "0",
    Block => "1; mode=block",
});

/// The request header that marks a request secure when a trusted proxy sets it to
/// `https` (Django's `SECURE_PROXY_SSL_HEADER`). Only the first value is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxySslHeader {
    /// `X-Forwarded-Proto: https`.
    XForwardedProto,
}

impl ProxySslHeader {
    /// The value that marks a request secure: `https`.
    pub const SECURE_VALUE: &'static str = "https";

    /// The header name as usually written, e.g. `X-Forwarded-Proto`.
    pub fn name(self) -> &'static str {
        match self {
            ProxySslHeader::XForwardedProto => "X-Forwarded-Proto",
        }
    }

    /// The header name, for lookups.
    pub fn header_name(self) -> HeaderName {
        match self {
            ProxySslHeader::XForwardedProto => HeaderName::from_static("x-forwarded-proto"),
        }
    }
}

impl fmt::Display for ProxySslHeader {
    /// `X-Forwarded-Proto: https`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name(), Self::SECURE_VALUE)
    }
}

impl Serialize for ProxySslHeader {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [self.name(), Self::SECURE_VALUE].serialize(s)
    }
}

/// CORS rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CorsRules {
    /// Exactly allowed origins.
    pub origins: Vec<Origin>,
    /// Allowed subdomain patterns.
    pub subdomains: Vec<SubdomainPattern>,
    /// Loopback origins allowed on any port (development).
    pub loopback_any_port: bool,
    /// User-supplied origin regexes, compiled.
    pub origin_regexes: Vec<OriginRegex>,
    /// `Access-Control-Allow-Credentials: true` for allowed origins.
    pub allow_credentials: bool,
    /// Headers a preflight may request.
    pub allow_headers: Vec<String>,
    /// Methods a preflight may request.
    pub allow_methods: Vec<String>,
    /// Preflight cache time, seconds.
    pub max_age: u64,
    /// Response headers scripts of allowed origins may read
    /// (`Access-Control-Expose-Headers`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// Any origin is allowed (a route's `origins: ["*"]`), never with credentials.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub any_origin: bool,
}

/// CSRF rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CsrfRules {
    /// Exactly trusted origins.
    pub trusted_origins: Vec<Origin>,
    /// Trusted subdomain patterns.
    pub subdomains: Vec<SubdomainPattern>,
    /// Loopback port ranges trusted on http and https (development).
    pub loopback_port_ranges: Vec<(u16, u16)>,
    /// Extra loopback ports trusted (ports of loopback URLs named in config).
    pub loopback_ports: Vec<u16>,
    /// Path patterns exempt from the check.
    pub exempt_paths: Vec<String>,
    /// The check is left to the upstream application (`role: gateway` with
    /// `gateway.csrf: upstream`): every request passes it here.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub upstream: bool,
}

/// HSTS header settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Hsts {
    /// `max-age`.
    pub seconds: u64,
    /// `includeSubDomains`.
    pub include_subdomains: bool,
    /// `preload`.
    pub preload: bool,
}

impl Hsts {
    /// The header value.
    pub fn header_value(&self) -> String {
        let mut v = format!("max-age={}", self.seconds);
        if self.include_subdomains {
            v.push_str("; includeSubDomains");
        }
        if self.preload {
            v.push_str("; preload");
        }
        v
    }
}

/// Peers trusted to set forwarded headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyTrust {
    /// Any peer.
    Any,
    /// Peers in these networks.
    Networks(Vec<IpNet>),
}

impl Serialize for ProxyTrust {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ProxyTrust::Any => ["*"].serialize(s),
            ProxyTrust::Networks(n) => n.serialize(s),
        }
    }
}

/// TLS rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TlsRules {
    /// Redirect plain-HTTP requests to https with 301.
    pub ssl_redirect: bool,
    /// The header marking a request secure, believed from trusted proxies only.
    pub proxy_ssl_header: Option<ProxySslHeader>,
    /// Who may set it.
    pub trusted_proxies: ProxyTrust,
    /// HSTS on secure responses.
    pub hsts: Option<Hsts>,
}

/// Cookie rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CookieRules {
    /// Add `Secure` to every `Set-Cookie`.
    pub secure: bool,
    /// The session cookie's name.
    pub session_cookie_name: String,
    /// The CSRF cookie's name: never made `HttpOnly` (scripts read it, as Django's).
    pub csrf_cookie_name: String,
    /// Make the session cookie `HttpOnly` and `SameSite=Lax` (when it has no SameSite).
    pub harden_session_cookie: bool,
    /// Add `SameSite=Lax` to every cookie without a `SameSite` (production).
    pub same_site_lax: bool,
    /// Fix `__Secure-` and `__Host-` cookies that break their prefix rules (production).
    pub fix_prefixes: bool,
}

/// Security response headers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HeaderRules {
    /// `X-Content-Type-Options: nosniff`.
    pub content_type_nosniff: bool,
    /// `X-Frame-Options`.
    pub x_frame_options: Option<FrameOptions>,
    /// `Referrer-Policy`.
    pub referrer_policy: Option<ReferrerPolicy>,
    /// `Cross-Origin-Opener-Policy`.
    pub cross_origin_opener_policy: Option<CrossOriginOpenerPolicy>,
    /// `X-XSS-Protection` (`0`: disable the legacy auditor).
    pub xss_protection: Option<XssProtection>,
    /// `Cross-Origin-Resource-Policy` (`headers.cross_origin_resource_policy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_origin_resource_policy: Option<CrossOriginResourcePolicy>,
    /// `Cross-Origin-Embedder-Policy` (`headers.cross_origin_embedder_policy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_origin_embedder_policy: Option<CrossOriginEmbedderPolicy>,
    /// `Content-Security-Policy`; `{nonce}` is replaced by a fresh nonce per response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_security_policy: Option<String>,
    /// `Content-Security-Policy-Report-Only`; `{nonce}` as above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_security_policy_report_only: Option<String>,
    /// `Permissions-Policy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_policy: Option<String>,
    /// `Reporting-Endpoints` (set with `reports:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_endpoints: Option<String>,
    /// The reporting endpoint COOP and COEP name in their `report-to` parameter (set
    /// with `reports:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation_report_to: Option<String>,
}

/// What the runtime looked like when the policy was derived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RuntimeSummary {
    /// Container rules are on.
    pub container: bool,
    /// Docker (or another container runtime) detected.
    pub docker: bool,
    /// Kubernetes detected.
    pub kubernetes: bool,
    /// The configured mode.
    pub docker_mode: DockerMode,
    /// The container host name.
    pub hostname: Option<String>,
    /// The signals that fired.
    pub signals: Vec<String>,
}

/// The derived security policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Policy {
    /// The environment.
    pub environment: Environment,
    /// Debug mode (never weakens the strict environments).
    pub debug: bool,
    /// The runtime.
    pub runtime: RuntimeSummary,
    /// The normalized origins of the configured domains and URLs.
    pub origins: Vec<Origin>,
    /// Host rules.
    pub hosts: HostRules,
    /// Internal networks (used for hosts in containers and default trusted proxies).
    pub internal_networks: Vec<IpNet>,
    /// CORS rules.
    pub cors: CorsRules,
    /// CSRF rules.
    pub csrf: CsrfRules,
    /// TLS rules.
    pub tls: TlsRules,
    /// Cookie rules.
    pub cookies: CookieRules,
    /// Security headers.
    pub headers: HeaderRules,
    /// Paths exempt from the host check and the TLS redirect.
    pub health_check_paths: Vec<String>,
    /// Checks that only log what they would reject (`report_only`).
    #[serde(skip_serializing_if = "is_enforcing")]
    pub report_only: ReportOnly,
    /// Per-route policies (`routes:`), in configuration order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RoutePolicy>,
    /// The resource isolation policy on `Sec-Fetch-*` headers (`fetch_metadata`).
    pub fetch_metadata: FetchMetadataRules,
    /// The violation report collector (`reports:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reports: Option<crate::reports::ReportsConfig>,
}

fn is_enforcing(r: &ReportOnly) -> bool {
    !r.any()
}

impl Policy {
    /// `ALLOWED_HOSTS` as Django would list it (networks are not expressible there).
    pub fn allowed_hosts(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.hosts.any {
            v.push("*".to_owned());
        }
        v.extend(self.hosts.exact.iter().cloned());
        v.extend(self.hosts.suffixes.iter().cloned());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_render() {
        let cases: &[(&str, http::HeaderValue)] = &[
            ("DENY", FrameOptions::Deny.header_value()),
            ("SAMEORIGIN", FrameOptions::SameOrigin.header_value()),
            ("same-origin", ReferrerPolicy::SameOrigin.header_value()),
            (
                "strict-origin-when-cross-origin",
                ReferrerPolicy::StrictOriginWhenCrossOrigin.header_value(),
            ),
            (
                "same-origin",
                CrossOriginOpenerPolicy::SameOrigin.header_value(),
            ),
            ("0", XssProtection::Disable.header_value()),
            ("1; mode=block", XssProtection::Block.header_value()),
        ];
        for (want, got) in cases {
            assert_eq!(got, want);
        }
        // Every variant renders (`from_static` accepts only visible ASCII).
        use ReferrerPolicy as R;
        for r in [
            R::NoReferrer,
            R::NoReferrerWhenDowngrade,
            R::Origin,
            R::OriginWhenCrossOrigin,
            R::SameOrigin,
            R::StrictOrigin,
            R::StrictOriginWhenCrossOrigin,
            R::UnsafeUrl,
        ] {
            assert_eq!(r.header_value(), r.as_str());
        }
        use CrossOriginOpenerPolicy as C;
        for c in [C::UnsafeNone, C::SameOriginAllowPopups, C::SameOrigin] {
            assert_eq!(c.header_value(), c.as_str());
        }
        assert_eq!(
            ProxySslHeader::XForwardedProto.to_string(),
            "X-Forwarded-Proto: https"
        );
        assert_eq!(
            ProxySslHeader::XForwardedProto.header_name(),
            http::header::HeaderName::from_static("x-forwarded-proto")
        );
    }
}
