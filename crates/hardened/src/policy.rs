//! Derivation: `(Config, RuntimeProbe) -> Policy`, a pure function.
//!
//! The [`Policy`] holds every derived setting as plain data (serializable for
//! `hardened show`); [`crate::Security`] compiles it into matchers for requests.
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
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Serialize, Serializer};

use crate::config::{Config, ConfigErrors, DockerMode, Environment, TrustedProxies};
use crate::domain::{DomainEntry, Host, Origin, Scheme};
use crate::probe::RuntimeProbe;

/// Loopback port ranges trusted for CSRF in development (front-end dev servers).
pub const DEV_CSRF_PORT_RANGES: [(u16, u16); 2] = [(3000, 5000), (8000, 9000)];

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

/// The loopback origin rule of development.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopbackRule {
    /// No loopback rule.
    None,
    /// `http(s)://localhost|*.localhost|127.0.0.0/8|[::1]` on any port.
    AnyPort,
    /// Those hosts on the development CSRF port ranges (and ports named in config).
    PortRanges,
}

/// CORS rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CorsRules {
    /// Exactly allowed origins.
    pub origins: Vec<Origin>,
    /// Allowed subdomain patterns.
    pub subdomains: Vec<SubdomainPattern>,
    /// Loopback origins allowed on any port (development).
    pub loopback_any_port: bool,
    /// User-supplied origin regexes.
    pub origin_regexes: Vec<String>,
    /// `Access-Control-Allow-Credentials: true` for allowed origins.
    pub allow_credentials: bool,
    /// Headers a preflight may request.
    pub allow_headers: Vec<String>,
    /// Methods a preflight may request.
    pub allow_methods: Vec<String>,
    /// Preflight cache time, seconds.
    pub max_age: u64,
}

/// CSRF rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
}

/// HSTS header settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
pub struct TlsRules {
    /// Redirect plain-HTTP requests to https with 301.
    pub ssl_redirect: bool,
    /// `(header, value)` marking a request secure, believed from trusted proxies only.
    pub proxy_ssl_header: Option<(String, String)>,
    /// Who may set it.
    pub trusted_proxies: ProxyTrust,
    /// HSTS on secure responses.
    pub hsts: Option<Hsts>,
}

/// Cookie rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CookieRules {
    /// Add `Secure` to every `Set-Cookie`.
    pub secure: bool,
    /// The session cookie's name.
    pub session_cookie_name: String,
    /// Make the session cookie `HttpOnly` and `SameSite=Lax` (when it has no SameSite).
    pub harden_session_cookie: bool,
}

/// Security response headers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderRules {
    /// `X-Content-Type-Options: nosniff`.
    pub content_type_nosniff: bool,
    /// `X-Frame-Options`.
    pub x_frame_options: Option<String>,
    /// `Referrer-Policy`.
    pub referrer_policy: Option<String>,
    /// `Cross-Origin-Opener-Policy`.
    pub cross_origin_opener_policy: Option<String>,
    /// `X-XSS-Protection` (`0`: disable the legacy auditor).
    pub xss_protection: Option<String>,
}

/// What the runtime looked like when the policy was derived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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

/// A list that keeps first occurrences in order, deduplicating in O(1) per push (a
/// linear `contains` makes 10 000 domains quadratic).
pub(crate) struct Unique<T> {
    items: Vec<T>,
    seen: std::collections::HashSet<T>,
}

impl<T: std::hash::Hash + Eq + Clone> Unique<T> {
    pub(crate) fn new() -> Self {
        Unique {
            items: Vec::new(),
            seen: std::collections::HashSet::new(),
        }
    }

    pub(crate) fn from_vec(v: Vec<T>) -> Self {
        let mut u = Unique::new();
        for x in v {
            u.push(x);
        }
        u
    }

    pub(crate) fn push(&mut self, x: T) {
        if self.seen.insert(x.clone()) {
            self.items.push(x);
        }
    }

    pub(crate) fn into_vec(self) -> Vec<T> {
        self.items
    }
}

const LOOPBACK_HOSTS: [&str; 4] = ["localhost", ".localhost", "127.0.0.1", "[::1]"];

/// Derives the policy. Pure: the same inputs always give the same policy.
///
/// # Errors
/// The configuration's policy problems ([`Config::policy_problems`]): production or
/// staging without domains, `*` outside development.
pub fn derive(cfg: &Config, probe: &RuntimeProbe) -> Result<Policy, ConfigErrors> {
    let problems = cfg.policy_problems();
    if !problems.is_empty() {
        return Err(ConfigErrors(problems));
    }
    let strict = cfg.environment.is_strict();
    let container = match cfg.docker {
        DockerMode::On => true,
        DockerMode::Off => false,
        DockerMode::Auto => probe.in_container(),
    };
    let origins = cfg.origins();
    let subdomains: Vec<SubdomainPattern> = cfg
        .security_domains
        .iter()
        .filter_map(|d| match d {
            DomainEntry::Subdomains {
                scheme,
                domain,
                port,
            } => Some(SubdomainPattern {
                scheme: *scheme,
                domain: domain.clone(),
                port: *port,
            }),
            _ => None,
        })
        .collect();

    // Hosts.
    let mut hosts = HostRules::default();
    let mut exact = Unique::new();
    let mut suffixes = Unique::new();
    if !strict {
        hosts.any = cfg.security_domains.contains(&DomainEntry::Any);
        for h in LOOPBACK_HOSTS {
            if let Some(s) = h.strip_prefix('.') {
                suffixes.push(format!(".{s}"));
            } else {
                exact.push(h.to_owned());
            }
        }
    }
    for o in &origins {
        exact.push(o.host.to_string());
    }
    for s in &subdomains {
        suffixes.push(format!(".{}", s.domain));
    }
    let mut networks = Unique::from_vec(default_internal_networks());
    for n in &cfg.internal_networks {
        networks.push(*n);
    }
    let internal_networks = networks.into_vec();
    if container {
        hosts.networks = internal_networks.clone();
        suffixes.push(".cluster.local".to_owned());
        suffixes.push(".svc".to_owned());
        if let Some(h) = &probe.hostname
            && crate::domain::parse_host(h).is_ok()
        {
            exact.push(h.clone());
        }
        let urls = cfg
            .api_url
            .iter()
            .chain(cfg.site_url.iter())
            .chain(cfg.service_urls.iter());
        for o in urls {
            if let Host::Domain(d) = &o.host
                && !d.contains('.')
            {
                exact.push(d.clone());
            }
        }
    }
    hosts.exact = exact.into_vec();
    hosts.suffixes = suffixes.into_vec();

    // CORS.
    let mut cors_origins = Unique::new();
    let mut cors_subdomains = Unique::new();
    for o in &origins {
        cors_origins.push(o.clone());
        if !strict {
            let twin = match o.scheme {
                Scheme::Http => Scheme::Https,
                Scheme::Https => Scheme::Http,
            };
            cors_origins.push(Origin::new(twin, o.host.clone(), o.port));
        }
    }
    for s in &subdomains {
        cors_subdomains.push(s.clone());
        if !strict {
            let twin = match s.scheme {
                Scheme::Http => Scheme::Https,
                Scheme::Https => Scheme::Http,
            };
            cors_subdomains.push(SubdomainPattern {
                scheme: twin,
                ..s.clone()
            });
        }
    }

    // CSRF.
    let mut loopback_ports = Unique::new();
    if !strict {
        let all = origins.iter().chain(cfg.service_urls.iter());
        for o in all {
            if o.host.is_loopback() {
                loopback_ports.push(o.effective_port());
            }
        }
    }
    let loopback_ports = loopback_ports.into_vec();

    // TLS.
    let trusted_proxies = match &cfg.trusted_proxies {
        Some(TrustedProxies::Any) => ProxyTrust::Any,
        Some(TrustedProxies::Networks(n)) => ProxyTrust::Networks(n.clone()),
        // The internal networks include loopback (127.0.0.0/8 and ::1).
        None => ProxyTrust::Networks(internal_networks.clone()),
    };
    let hsts = if strict {
        let seconds = cfg.hsts.seconds.unwrap_or(HSTS_ONE_YEAR);
        (seconds > 0).then(|| Hsts {
            seconds,
            include_subdomains: cfg.hsts.include_subdomains.unwrap_or(true),
            preload: cfg.hsts.preload.unwrap_or(true),
        })
    } else {
        None
    };

    Ok(Policy {
        environment: cfg.environment,
        debug: cfg.debug,
        runtime: RuntimeSummary {
            container,
            docker: probe.docker,
            kubernetes: probe.kubernetes,
            docker_mode: cfg.docker,
            hostname: probe.hostname.clone(),
            signals: probe.signals.iter().map(|s| s.to_string()).collect(),
        },
        origins: origins.clone(),
        hosts,
        internal_networks,
        cors: CorsRules {
            origins: cors_origins.into_vec(),
            subdomains: cors_subdomains.into_vec(),
            loopback_any_port: !strict,
            origin_regexes: cfg.cors_allowed_origin_regexes.clone(),
            allow_credentials: true,
            allow_headers: cfg.cors_allow_headers.clone(),
            allow_methods: cfg.cors_allow_methods.clone(),
            max_age: cfg.cors_preflight_max_age,
        },
        csrf: CsrfRules {
            trusted_origins: origins,
            subdomains,
            loopback_port_ranges: if strict {
                Vec::new()
            } else {
                DEV_CSRF_PORT_RANGES.to_vec()
            },
            loopback_ports,
            exempt_paths: cfg.csrf_exempt_paths.clone(),
        },
        tls: TlsRules {
            ssl_redirect: strict && cfg.ssl_redirect == Some(true),
            proxy_ssl_header: strict.then(|| ("X-Forwarded-Proto".to_owned(), "https".to_owned())),
            trusted_proxies,
            hsts,
        },
        cookies: CookieRules {
            secure: cfg.secure_cookies.unwrap_or(strict),
            session_cookie_name: cfg.session_cookie_name.clone(),
            harden_session_cookie: strict,
        },
        headers: if strict {
            HeaderRules {
                content_type_nosniff: true,
                x_frame_options: Some("DENY".into()),
                referrer_policy: Some("same-origin".into()),
                cross_origin_opener_policy: Some("same-origin".into()),
                xss_protection: Some("0".into()),
            }
        } else {
            HeaderRules {
                content_type_nosniff: true,
                x_frame_options: Some("SAMEORIGIN".into()),
                referrer_policy: None,
                cross_origin_opener_policy: None,
                xss_protection: None,
            }
        },
        health_check_paths: cfg.health_check_paths.clone(),
    })
}
