//! Derivation: a validated [`Config`] and a [`RuntimeProbe`] give the [`Policy`].
//!
//! Every effective setting (container rules, HSTS defaults, trusted proxies, security
//! headers) is decided here, once; the enforcement, `hardened show` and the checklist
//! read the result.

use crate::config::{
    Config, Environment, GatewayCsrf, HeaderOverride, HeadersConfig, OriginRegex, Role,
    TrustedProxies,
};
use crate::domain::{DomainEntry, Host, Origin, Scheme};
use crate::probe::RuntimeProbe;

use super::validate::Valid;
use super::{
    CookieRules, CorsRules, CrossOriginEmbedderPolicy, CrossOriginOpenerPolicy,
    CrossOriginResourcePolicy, CsrfRules, DEV_CSRF_PORT_RANGES, DEV_CSRF_PORTS, FrameOptions,
    HSTS_ONE_YEAR, HeaderRules, HostRules, Hsts, Policy, ProxySslHeader, ProxyTrust,
    ReferrerPolicy, RuntimeSummary, SubdomainPattern, TlsRules, Unique, XssProtection,
    default_internal_networks,
};

const LOOPBACK_HOSTS: [&str; 4] = ["localhost", ".localhost", "127.0.0.1", "[::1]"];

/// Derives the policy of a validated configuration. Pure and infallible: the same
/// inputs always give the same policy.
pub fn derive_valid(cfg: &Valid<'_>, probe: &RuntimeProbe) -> Policy {
    let c = cfg.config();
    derive_with(c, c.environment, probe, cfg.origin_regexes().to_vec())
}

/// The settings `cfg` would have in `environment`, whether or not it is valid there.
///
/// The checklist judges a configuration as a production deployment with this, and
/// judges invalid configurations too (every problem is reported, not only the first):
/// an origin regex that does not compile is left out.
pub(crate) fn derive_as(cfg: &Config, environment: Environment, probe: &RuntimeProbe) -> Policy {
    let regexes = crate::config::origin_regexes(cfg)
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    derive_with(cfg, environment, probe, regexes)
}

/// The settings `cfg` has in `environment`, its origin regexes compiled as `regexes`.
fn derive_with(
    cfg: &Config,
    environment: Environment,
    probe: &RuntimeProbe,
    regexes: Vec<OriginRegex>,
) -> Policy {
    let strict = environment.is_strict();
    let container = cfg.docker.in_container(probe);
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
        for p in DEV_CSRF_PORTS {
            loopback_ports.push(p);
        }
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

    let mut policy = Policy {
        environment,
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
            origin_regexes: regexes,
            allow_credentials: true,
            allow_headers: cfg.cors_allow_headers.clone(),
            allow_methods: cfg.cors_allow_methods.clone(),
            max_age: cfg.cors_preflight_max_age,
            expose_headers: cfg.cors_expose_headers.clone(),
            any_origin: false,
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
            exempt_paths: crate::reports::exempt_paths(
                &cfg.csrf_exempt_paths,
                cfg.reports.as_ref(),
            ),
            upstream: cfg.role == Role::Gateway && cfg.gateway.csrf == Some(GatewayCsrf::Upstream),
        },
        tls: TlsRules {
            ssl_redirect: strict && cfg.ssl_redirect == Some(true),
            proxy_ssl_header: strict.then_some(ProxySslHeader::XForwardedProto),
            trusted_proxies,
            hsts,
        },
        cookies: CookieRules {
            secure: cfg.secure_cookies.unwrap_or(strict),
            session_cookie_name: cfg.session_cookie_name.clone(),
            csrf_cookie_name: cfg.csrf_cookie_name.clone(),
            harden_session_cookie: strict,
            same_site_lax: strict,
            fix_prefixes: strict,
        },
        headers: crate::reports::point_headers(
            header_rules(cfg, strict),
            cfg.reports.as_ref(),
            strict,
        ),
        health_check_paths: cfg.health_check_paths.clone(),
        report_only: cfg.report_only,
        routes: Vec::new(),
        reports: cfg.reports.clone(),
        fetch_metadata: super::FetchMetadataRules::new(
            cfg.fetch_metadata
                .unwrap_or(crate::config::FetchMetadata::default_for(strict)),
        ),
    };
    policy.routes = super::routes::derive_routes(cfg, &policy.headers, &policy.cors);
    policy
}

/// The security headers: the environment's defaults (DESIGN.md's table), then the
/// `headers:` overrides (`null` removes one).
fn header_rules(cfg: &Config, strict: bool) -> HeaderRules {
    let mut h = if strict {
        HeaderRules {
            content_type_nosniff: true,
            x_frame_options: Some(FrameOptions::Deny),
            referrer_policy: Some(ReferrerPolicy::SameOrigin),
            cross_origin_opener_policy: Some(CrossOriginOpenerPolicy::SameOrigin),
            xss_protection: Some(XssProtection::Disable),
            cross_origin_resource_policy: None,
            cross_origin_embedder_policy: None,
            content_security_policy: None,
            content_security_policy_report_only: None,
            permissions_policy: None,
            reporting_endpoints: None,
            isolation_report_to: None,
        }
    } else {
        HeaderRules {
            content_type_nosniff: true,
            x_frame_options: Some(FrameOptions::SameOrigin),
            referrer_policy: None,
            cross_origin_opener_policy: None,
            xss_protection: None,
            cross_origin_resource_policy: None,
            cross_origin_embedder_policy: None,
            content_security_policy: None,
            content_security_policy_report_only: None,
            permissions_policy: None,
            reporting_endpoints: None,
            isolation_report_to: None,
        }
    };
    apply_header_overrides(&mut h, &cfg.headers);
    h
}

/// Applies `headers:` overrides (the top level's, or a route's) to `h`: `null` removes
/// a header, a value sets it.
pub(crate) fn apply_header_overrides(h: &mut HeaderRules, o: &HeadersConfig) {
    fn apply<T>(slot: &mut Option<T>, o: &HeaderOverride, parse: impl Fn(&str) -> Option<T>) {
        match o {
            HeaderOverride::Default => {}
            HeaderOverride::Remove => *slot = None,
            // The typer only accepts values that parse.
            HeaderOverride::Set(s) => *slot = parse(s),
        }
    }
    apply(
        &mut h.x_frame_options,
        &o.x_frame_options,
        FrameOptions::parse,
    );
    apply(
        &mut h.referrer_policy,
        &o.referrer_policy,
        ReferrerPolicy::parse,
    );
    apply(
        &mut h.cross_origin_opener_policy,
        &o.cross_origin_opener_policy,
        CrossOriginOpenerPolicy::parse,
    );
    apply(
        &mut h.cross_origin_resource_policy,
        &o.cross_origin_resource_policy,
        CrossOriginResourcePolicy::parse,
    );
    apply(
        &mut h.cross_origin_embedder_policy,
        &o.cross_origin_embedder_policy,
        CrossOriginEmbedderPolicy::parse,
    );
    let text = |s: &str| Some(s.to_owned());
    apply(
        &mut h.content_security_policy,
        &o.content_security_policy,
        text,
    );
    apply(
        &mut h.content_security_policy_report_only,
        &o.content_security_policy_report_only,
        text,
    );
    apply(&mut h.permissions_policy, &o.permissions_policy, text);
}
