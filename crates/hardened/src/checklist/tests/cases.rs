//! One failing and one passing setup for every rule.

use super::*;

pub(super) type Mutate = fn(&mut Setup);

/// `(rule id, severity expected, make it fail, a different way to make it pass)`.
pub(super) const CASES: &[(RuleId, Severity, Mutate, Mutate)] = &[
    (
        RuleId::ConfigInvalid,
        Severity::Error,
        |s| {
            s.problems.push(problem(
                ProblemKind::WrongType,
                "debug",
                Some("\"maybe\""),
                "expected true or false, found a string",
                2,
            ))
        },
        |s| {
            s.problems.push(problem(
                ProblemKind::UnknownKey,
                "nope",
                None,
                "unknown key",
                2,
            ))
        },
    ),
    (
        RuleId::ConfigUnknownKey,
        Severity::Error,
        |s| {
            s.problems.push(problem(
                ProblemKind::UnknownKey,
                "secure_cookie",
                None,
                "unknown key",
                9,
            ))
        },
        |s| {
            s.problems.push(problem(
                ProblemKind::WrongType,
                "debug",
                Some("1.5"),
                "expected true or false, found a number",
                2,
            ))
        },
    ),
    (
        RuleId::ConfigUnsetVariable,
        Severity::Error,
        |s| {
            s.problems.push(problem(
                ProblemKind::UnsetVariable,
                "secret_key",
                Some("${SECRET_KEY}"),
                "environment variable SECRET_KEY is not set",
                3,
            ))
        },
        |s| {
            s.problems.push(problem(
                ProblemKind::UnknownEnvironment,
                "environment",
                Some("\"x\""),
                "unknown environment \"x\"",
                1,
            ))
        },
    ),
    (
        RuleId::DockerModeAuto,
        Severity::Info,
        |s| s.cfg.docker = DockerMode::Auto,
        |s| s.cfg.docker = DockerMode::Off,
    ),
    (
        RuleId::DebugInProduction,
        Severity::Error,
        |s| s.cfg.debug = true,
        |s| s.cfg.environment = Environment::Staging,
    ),
    (
        RuleId::EnvironmentNotProduction,
        Severity::Error,
        |s| s.cfg.environment = Environment::Development,
        |s| s.cfg.debug = false,
    ),
    (
        RuleId::SecretKeyMissing,
        Severity::Error,
        |s| s.cfg.secret_key = None,
        |s| s.cfg.secret_key = Some(Secret::new("x")),
    ),
    (
        RuleId::SecretKeyShort,
        Severity::Error,
        |s| s.cfg.secret_key = Some(Secret::new("aB3$dE6&gH9*jK2")),
        |s| s.cfg.secret_key = Some(Secret::new(format!("{GOOD_KEY}{GOOD_KEY}"))),
    ),
    (
        RuleId::SecretKeyLowEntropy,
        Severity::Error,
        |s| s.cfg.secret_key = Some(Secret::new("ab".repeat(30))),
        |s| s.cfg.secret_key = Some(Secret::new("abcde".repeat(12))),
    ),
    (
        RuleId::SecretKeyInsecurePattern,
        Severity::Error,
        |s| {
            s.cfg.secret_key = Some(Secret::new(
                "dev-secret-key-at-least-50-chars-long-xxxxxxxxxxxxxxxxx",
            ))
        },
        |s| s.cfg.secret_key = Some(Secret::new(GOOD_KEY.to_lowercase())),
    ),
    (
        RuleId::DomainsInvalid,
        Severity::Error,
        |s| {
            s.problems.push(problem(
                ProblemKind::InvalidDomain,
                "security_domains[1]",
                Some("\"https://x.com/path\""),
                "a domain entry must not contain a path (\"/path\")",
                4,
            ))
        },
        |s| {
            s.problems.push(problem(
                ProblemKind::InvalidUrl,
                "api_url",
                Some("\"x\""),
                "not a URL",
                4,
            ))
        },
    ),
    (
        RuleId::DomainsEmpty,
        Severity::Error,
        |s| s.cfg.security_domains.clear(),
        |s| {
            s.cfg.security_domains.clear();
            s.cfg.site_url = crate::config::url_origin("https://example.com").ok();
        },
    ),
    (
        RuleId::DomainsWildcard,
        Severity::Error,
        |s| s.cfg.security_domains.push(crate::domain::DomainEntry::Any),
        |s| s.cfg.security_domains.extend(parse_entry(".example.com")),
    ),
    (
        RuleId::DomainsHttp,
        Severity::Error,
        |s| {
            s.cfg
                .security_domains
                .extend(parse_entry("http://staging.example.com:8080"))
        },
        |s| {
            s.cfg
                .security_domains
                .extend(parse_entry("https://staging.example.com:8443"))
        },
    ),
    (
        RuleId::DomainsLocalhost,
        Severity::Warning,
        |s| s.cfg.security_domains.extend(parse_entry("localhost:3000")),
        |s| {
            s.cfg
                .security_domains
                .extend(parse_entry("local.example.com"))
        },
    ),
    (
        RuleId::DomainsIpLiteral,
        Severity::Warning,
        |s| {
            s.cfg
                .security_domains
                .extend(parse_entry("https://192.168.1.10"))
        },
        |s| s.cfg.security_domains.extend(parse_entry("https://[::1]")),
    ),
    (
        RuleId::CorsRegexAny,
        Severity::Error,
        |s| s.cfg.cors_allowed_origin_regexes.push("https?://.*".into()),
        |s| {
            s.cfg
                .cors_allowed_origin_regexes
                .push(r"https://.*\.example\.com".into())
        },
    ),
    (
        RuleId::CspMissing,
        Severity::Warning,
        |s| s.cfg.headers.content_security_policy = HeaderOverride::Remove,
        |s| {
            s.cfg.headers.content_security_policy =
                HeaderOverride::Set("default-src 'none'; frame-ancestors 'none'".into())
        },
    ),
    (
        RuleId::ReportOnly,
        Severity::Error,
        |s| s.cfg.report_only = crate::config::ReportOnly::ALL,
        |s| s.cfg.report_only = crate::config::ReportOnly::NONE,
    ),
    (
        RuleId::ReportOnlyNoCollector,
        Severity::Warning,
        |s| {
            s.cfg.headers.content_security_policy_report_only =
                HeaderOverride::Set("default-src 'self'".into());
            s.cfg.reports = None;
        },
        |s| {
            s.cfg.headers.content_security_policy_report_only =
                HeaderOverride::Set("default-src 'self'".into());
            s.cfg.reports = Some(crate::reports::ReportsConfig::default());
        },
    ),
    (
        RuleId::CsrfExemptAll,
        Severity::Error,
        |s| s.cfg.csrf_exempt_paths.push("/{*rest}".into()),
        |s| s.cfg.csrf_exempt_paths.push("/hooks/{id}".into()),
    ),
    (
        RuleId::HealthCheckAll,
        Severity::Error,
        |s| s.cfg.health_check_paths.push("/*".into()),
        |s| s.cfg.health_check_paths.push("/healthz".into()),
    ),
    (
        RuleId::CsrfUpstreamUnverified,
        Severity::Error,
        |s| {
            s.cfg.role = crate::config::Role::Gateway;
            s.cfg.gateway.csrf = Some(crate::config::GatewayCsrf::Upstream);
        },
        |s| {
            s.cfg.role = crate::config::Role::Gateway;
            s.cfg.gateway.csrf = Some(crate::config::GatewayCsrf::Upstream);
            s.cfg.gateway.django_settings = Some("security_settings.py".into());
            s.facts = s
                .facts
                .clone()
                .with_django_settings(crate::checklist::DjangoSettingsFacts::Current);
        },
    ),
    (
        RuleId::HstsDisabled,
        Severity::Error,
        |s| s.cfg.hsts.seconds = Some(0),
        |s| s.cfg.hsts.seconds = Some(63_072_000),
    ),
    (
        RuleId::HstsPreloadWithoutSubdomains,
        Severity::Warning,
        |s| s.cfg.hsts.include_subdomains = Some(false),
        |s| {
            s.cfg.hsts = HstsConfig {
                include_subdomains: Some(false),
                preload: Some(false),
                ..HstsConfig::default()
            }
        },
    ),
    (
        RuleId::HstsPreloadShortMaxAge,
        Severity::Warning,
        |s| s.cfg.hsts.seconds = Some(3600),
        |s| {
            s.cfg.hsts = HstsConfig {
                seconds: Some(3600),
                preload: Some(false),
                ..HstsConfig::default()
            }
        },
    ),
    (
        RuleId::SslRedirectUntrustedProxy,
        Severity::Error,
        |s| s.cfg.trusted_proxies = Some(TrustedProxies::Networks(Vec::new())),
        |s| {
            s.cfg.trusted_proxies = Some(TrustedProxies::Networks(
                crate::config::parse_net("172.16.0.0/12")
                    .into_iter()
                    .collect(),
            ))
        },
    ),
    (
        RuleId::CookiesInsecure,
        Severity::Error,
        |s| s.cfg.secure_cookies = Some(false),
        |s| s.cfg.secure_cookies = Some(true),
    ),
    (
        RuleId::ContainerNoTrustedProxies,
        Severity::Warning,
        |s| {
            s.cfg.docker = DockerMode::Auto;
            s.facts.probe = RuntimeProbe::kubernetes(Some("web-1"));
            s.cfg.trusted_proxies = Some(TrustedProxies::Networks(Vec::new()));
        },
        |s| {
            s.cfg.docker = DockerMode::Auto;
            s.facts.probe = RuntimeProbe::kubernetes(Some("web-1"));
            s.cfg.trusted_proxies = None;
        },
    ),
    (
        RuleId::TrustedProxiesAny,
        Severity::Warning,
        |s| s.cfg.trusted_proxies = Some(TrustedProxies::Any),
        |s| s.cfg.trusted_proxies = None,
    ),
    (
        RuleId::DatabasePasswordWeak,
        Severity::Error,
        |s| db(s).password = Some(Secret::new("Password123!")),
        |s| db(s).password = Some(Secret::new("correct horse battery staple")),
    ),
    (
        RuleId::DatabaseHostPublic,
        Severity::Warning,
        |s| db(s).host = Some("203.0.113.7".into()),
        |s| db(s).host = Some("db.example.com".into()),
    ),
    (
        RuleId::DatabaseNoPassword,
        Severity::Info,
        |s| {
            let d = db(s);
            d.password = None;
            d.url = Some(Secret::new("postgres://app@10.0.0.5/app"));
        },
        |s| {
            let d = db(s);
            d.password = None;
            d.url = Some(Secret::new(format!(
                "postgres://app:{GOOD_DB_PASSWORD}@h/app"
            )));
        },
    ),
    (
        RuleId::SecretKeyInline,
        Severity::Error,
        |s| {
            s.cfg.sources.insert("secret_key".into(), file(3));
        },
        |s| {
            s.cfg
                .sources
                .insert("secret_key".into(), Source::env("SECRET_KEY"));
        },
    ),
    (
        RuleId::DatabasePasswordInline,
        Severity::Error,
        |s| {
            s.cfg.sources.insert("database.url".into(), file(8));
        },
        |s| {
            db(s).url = Some(Secret::new("postgres://app@db.internal/app"));
            s.cfg.sources.insert("database.url".into(), file(8));
        },
    ),
    (
        RuleId::SecretInline,
        Severity::Error,
        |s| {
            s.cfg.sources.insert("app.stripe_api_key".into(), file(11));
        },
        |s| {
            s.cfg.app.insert("github_token".into(), String::new());
            s.cfg.sources.insert("app.github_token".into(), file(14));
        },
    ),
    (
        RuleId::DotenvNotIgnored,
        Severity::Error,
        |s| {
            if let Some(d) = &mut s.facts.dotenv {
                d.ignored = Some(false);
            }
        },
        |s| {
            if let Some(d) = &mut s.facts.dotenv {
                d.tracked = Some(false);
            }
        },
    ),
    (
        RuleId::DotenvTracked,
        Severity::Error,
        |s| {
            if let Some(d) = &mut s.facts.dotenv {
                d.tracked = Some(true);
            }
        },
        |s| {
            if let Some(d) = &mut s.facts.dotenv {
                d.ignored = Some(true);
            }
        },
    ),
    (
        RuleId::DotenvUnverified,
        Severity::Info,
        |s| {
            if let Some(d) = &mut s.facts.dotenv {
                d.ignored = None;
                d.tracked = None;
            }
        },
        |s| {
            if let Some(d) = &mut s.facts.dotenv {
                d.ignored = Some(true);
                d.tracked = Some(false);
            }
        },
    ),
    (
        RuleId::RouteWeakens,
        Severity::Error,
        |s| {
            s.cfg
                .routes
                .push(crate::config::RouteConfig::new("/embed/*").frame_ancestors(["*"]));
        },
        |s| {
            let mut r = crate::config::RouteConfig::new("/admin/*");
            r.csrf = Some(crate::config::CsrfMode::Enforce);
            s.cfg.routes.push(r);
        },
    ),
];
