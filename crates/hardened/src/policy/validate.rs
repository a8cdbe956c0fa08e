//! Validation: every problem that makes a configuration unsafe to run, found at once.
//!
//! A [`Valid`] configuration is what [`derive_valid`](super::derive_valid) takes, so
//! derivation itself cannot fail.

use crate::config::{Config, ConfigErrors, OriginRegex, Problem, ProblemKind};
use crate::domain::DomainEntry;

/// A configuration that passed [`validate`]: safe to run, so derivation over it is
/// infallible. It holds the CORS origin regexes compiled, as the policy will.
#[derive(Clone, Debug)]
pub struct Valid<'a> {
    cfg: &'a Config,
    origin_regexes: Vec<OriginRegex>,
}

impl<'a> Valid<'a> {
    /// The configuration.
    pub fn config(&self) -> &'a Config {
        self.cfg
    }

    /// The compiled `cors_allowed_origin_regexes`, in order.
    pub fn origin_regexes(&self) -> &[OriginRegex] {
        &self.origin_regexes
    }
}

/// Checks a configuration, reporting every problem at once.
///
/// ```
/// use hardened::config::{Config, Environment};
/// use hardened::policy::validate;
///
/// let mut cfg = Config::development();
/// assert!(validate(&cfg).is_ok());
/// cfg.environment = Environment::Production;
/// let errs = validate(&cfg).unwrap_err();
/// assert_eq!(errs.0[0].kind().code(), "no-domains");
/// ```
///
/// # Errors
/// Production or staging without domains; `*`, a CORS regex admitting any origin, or a
/// `csrf_exempt_paths`/`health_check_paths` pattern matching every path, outside
/// development.
pub fn validate(cfg: &Config) -> Result<Valid<'_>, ConfigErrors> {
    let (problems, origin_regexes) = checked(cfg);
    if problems.is_empty() {
        Ok(Valid {
            cfg,
            origin_regexes,
        })
    } else {
        Err(ConfigErrors(problems))
    }
}

// Here rather than in `config`: the constructor validates (as every configuration is
// validated, in this module), and `config` does not depend on `policy`.
impl Config {
    /// A production configuration for these domains.
    ///
    /// # Errors
    /// The first domain entry that does not parse, or `*`.
    pub fn production<I, S>(domains: I) -> Result<Config, ConfigErrors>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut cfg = Config {
            environment: crate::config::Environment::Production,
            debug: false,
            ..Config::default()
        };
        let mut problems = Vec::new();
        for d in domains {
            match crate::domain::parse_entry(d.as_ref()) {
                Ok(e) => cfg.security_domains.push(e),
                Err(e) => problems.push(Problem::domain("security_domains", d.as_ref(), &e, None)),
            }
        }
        problems.extend(self::problems(&cfg));
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors(problems))
        }
    }
}

/// Origins no configuration of any service should allow: unrelated to each other and to
/// every real site (`.invalid` and `.test` are reserved, RFC 2606/6761). A CORS regex
/// that admits one of them admits arbitrary foreign origins.
pub(crate) const FOREIGN_ORIGINS: [&str; 9] = [
    "https://a0.invalid",
    // Under the big public suffixes: a regex that admits any `.com` admits every
    // attacker who can buy a domain.
    "https://a0-unrelated-zz9.com",
    "https://a0-unrelated-zz9.net",
    "https://a0-unrelated-zz9.org",
    "http://zz9.example-unrelated.test:8443",
    "https://attacker.invalid",
    "http://attacker.invalid",
    "https://xn--80ak6aa92e.invalid",
    "http://192.0.2.1",
];

/// Paths no exemption should cover by accident: the root, a top-level page, a deep
/// path and a file. A pattern that matches one of them matches arbitrary paths
/// (`/*`, `/{*rest}`, `/{page}`).
pub(crate) const FOREIGN_PATHS: [&str; 7] = [
    "/",
    "/a0",
    "/zz9/unrelated/x7q",
    "/zz9/unrelated/x7q/w4",
    "/zz9/unrelated/x7q/w4/v5/u6",
    "/zz9-unrelated.json",
    "/account/delete",
];

/// The first foreign origin a CORS origin regex admits, read as the matcher reads it
/// (anchored at both ends, decision 39); `None` for a narrow regex.
pub(crate) fn regex_admits_foreign(re: &OriginRegex) -> Option<&'static str> {
    FOREIGN_ORIGINS.iter().copied().find(|o| re.is_match(o))
}

/// The first foreign path a path pattern matches, as the enforcement matches it. A
/// pattern of parameters only (`/{a}/{b}/{c}/{d}`) matches every path of its length,
/// however long: it is reported with a path of that shape.
pub(crate) fn path_matches_foreign(pattern: &str) -> Option<&'static str> {
    let owned = pattern.to_owned();
    let set = crate::enforce::PathSet::new([&owned]);
    if let Some(p) = FOREIGN_PATHS.iter().copied().find(|p| set.matches(p)) {
        return Some(p);
    }
    let mut segments = pattern.split('/').skip(1).peekable();
    (segments.peek().is_some() && segments.all(|seg| seg.starts_with('{') && seg.ends_with('}')))
        .then_some("/any/path/of/that/many/segments")
}

/// Paths of every first character a path can start with: a list whose patterns
/// together match most of them (`/a*`, `/b*`, ... one letter each) exempts nearly
/// every path, though no pattern alone does.
const FIRST_CHARACTERS: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

/// Whether `patterns` together match more than half of the paths that start with each
/// possible character: a catch-all spelled as many narrow patterns.
pub(crate) fn paths_together_match_most(patterns: &[String]) -> bool {
    // A list with a catch-all of its own is reported for that pattern, not again.
    if patterns.len() < 2 || patterns.iter().any(|p| path_matches_foreign(p).is_some()) {
        return false;
    }
    let set = crate::enforce::PathSet::new(patterns);
    let matched = FIRST_CHARACTERS
        .chars()
        .filter(|c| set.matches(&format!("/{c}zz9-unrelated/x7q")))
        .count();
    matched * 2 > FIRST_CHARACTERS.len()
}

/// The catch-all settings of `cfg`, whose origin regexes compiled are `regexes`:
/// `(key, value, what it matched, fix)`.
fn catch_alls(
    cfg: &Config,
    regexes: &[Result<OriginRegex, regex::Error>],
) -> Vec<(String, String, &'static str, &'static str)> {
    let mut out = Vec::new();
    for (i, re) in regexes.iter().enumerate() {
        if let Ok(re) = re
            && let Some(o) = regex_admits_foreign(re)
        {
            out.push((
                format!("cors_allowed_origin_regexes[{i}]"),
                re.as_str().to_owned(),
                o,
                CORS_REGEX_FIX,
            ));
        }
    }
    let paths = [
        ("csrf_exempt_paths", &cfg.csrf_exempt_paths, CSRF_EXEMPT_FIX),
        ("health_check_paths", &cfg.health_check_paths, HEALTH_FIX),
    ];
    for (key, list, fix) in paths {
        for (i, p) in list.iter().enumerate() {
            if let Some(m) = path_matches_foreign(p) {
                out.push((format!("{key}[{i}]"), p.clone(), m, fix));
            }
        }
    }
    for (key, list, fix) in paths {
        if paths_together_match_most(list) {
            out.push((key.to_owned(), list.join(", "), "most paths", fix));
        }
    }
    out
}

/// Every problem of a [`Policy`](super::Policy) that [`validate`] refuses in the
/// configuration it came from: the refusals of a strict environment (`*` hosts, a
/// catch-all CORS regex, CSRF exemption or health-check pattern), path patterns that
/// are not paths, internal networks wider than `/8` (IPv4) or `/7` (IPv6). A policy
/// derived from a valid configuration has none; one changed in code after derivation
/// (`policy.csrf.exempt_paths = vec!["/*".into()]`) is refused by
/// [`Security::new`](crate::Security::new) as its configuration would have been.
pub(crate) fn policy_problems(policy: &super::Policy) -> Vec<Problem> {
    let mut out = super::routes::policy_route_problems(policy);
    let env = policy.environment;
    let paths = [
        (
            "csrf_exempt_paths",
            &policy.csrf.exempt_paths,
            CSRF_EXEMPT_FIX,
        ),
        ("health_check_paths", &policy.health_check_paths, HEALTH_FIX),
        (
            "fetch_metadata.cross_site_paths",
            &policy.fetch_metadata.cross_site_paths,
            CROSS_SITE_FIX,
        ),
    ];
    for (key, list, fix) in paths {
        for (i, p) in list.iter().enumerate() {
            if !p.starts_with('/') || p.contains(['?', '#', ' ']) {
                out.push(
                    Problem::new(
                        ProblemKind::InvalidPath,
                        format!("{key}[{i}]"),
                        "not a path pattern (it must start with `/` and hold no query, fragment or space)",
                        "write a path such as `/healthz`, `/api/*` or `/hooks/{id}`",
                    )
                    .with_value(format!("{p:?}")),
                );
            } else if env.is_strict()
                && let Some(m) = path_matches_foreign(p)
            {
                out.push(catch_all(env, format!("{key}[{i}]"), p, m, fix));
            }
        }
    }
    if env.is_strict() {
        for (key, list, fix) in paths {
            if paths_together_match_most(list) {
                out.push(catch_all(
                    env,
                    key.to_owned(),
                    &list.join(", "),
                    "most paths",
                    fix,
                ));
            }
        }
        for (i, re) in policy.cors.origin_regexes.iter().enumerate() {
            if let Some(o) = regex_admits_foreign(re) {
                out.push(catch_all(
                    env,
                    format!("cors_allowed_origin_regexes[{i}]"),
                    re.as_str(),
                    o,
                    CORS_REGEX_FIX,
                ));
            }
        }
        if policy.hosts.any {
            out.push(
                Problem::new(
                    ProblemKind::WildcardDomain,
                    "security_domains",
                    format!("the wildcard `*` is not allowed in {env}"),
                    "list your real domains, e.g. security_domains: [example.com]; `*` is for development only",
                )
                .with_value("\"*\""),
            );
        }
    }
    for (i, suffix) in policy.hosts.suffixes.iter().enumerate() {
        // `.example.com` and deeper, never a public suffix (`.com`, `.co.uk`), as the
        // domain parser requires of `.example.com` entries; of single labels only
        // `.localhost` and Kubernetes' `.svc`, which no public name ends in.
        let domain = suffix.strip_prefix('.').unwrap_or("");
        let ok = !domain.is_empty()
            && domain.split('.').all(|l| !l.is_empty())
            && (matches!(domain, "localhost" | "svc")
                || (domain.contains('.') && !crate::domain::is_public_suffix(domain)));
        if !ok {
            out.push(
                Problem::new(
                    ProblemKind::InvalidDomain,
                    format!("hosts.suffixes[{i}]"),
                    "not a subdomain pattern of a registrable domain: it would allow hosts of anyone",
                    "use `.example.com` (the domain and its subdomains) in security_domains",
                )
                .with_value(format!("{suffix:?}")),
            );
        }
    }
    let nets = policy
        .internal_networks
        .iter()
        .map(|n| ("internal_networks", n))
        .chain(policy.hosts.networks.iter().map(|n| ("hosts.networks", n)));
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (key, net) in nets {
        let i = index.entry(key).or_default();
        let key = format!("{key}[{i}]");
        *i += 1;
        let too_wide = match net {
            ipnet::IpNet::V4(n) => n.prefix_len() < 8,
            ipnet::IpNet::V6(n) => n.prefix_len() < 7,
        };
        if too_wide {
            out.push(
                Problem::new(
                    ProblemKind::NetworkTooWide,
                    key,
                    "wider than /8 (IPv4) or /7 (IPv6): it covers public addresses",
                    "list your private networks, e.g. 10.0.0.0/8 or 172.16.0.0/12",
                )
                .with_value(net.to_string()),
            );
        }
    }
    out
}

/// A `catch-all` problem: `key` = `value` matched `matched`.
fn catch_all(
    env: crate::config::Environment,
    key: String,
    value: &str,
    matched: &str,
    fix: &'static str,
) -> Problem {
    Problem::new(
        ProblemKind::CatchAll,
        key,
        format!("matches anything (e.g. {matched:?}), which is not allowed in {env}"),
        fix,
    )
    .with_value(format!("{value:?}"))
}

/// The fix for a CORS regex that admits any origin.
pub(crate) const CORS_REGEX_FIX: &str = "restrict it to your own domains, e.g. `https://[a-z0-9-]+\\.example\\.com`, or list them in security_domains (`.example.com` covers subdomains)";
/// The fix for a CSRF exemption that covers every path.
pub(crate) const CSRF_EXEMPT_FIX: &str = "exempt only the routes that need it, e.g. `csrf_exempt_paths: [\"/hooks/{id}\", \"/api/*\"]`; token-authenticated clients without cookies need no exemption";
/// The fix for a Fetch Metadata opt-out that covers every path.
pub(crate) const CROSS_SITE_FIX: &str = "open only the routes other sites load or call (public APIs, embeddable resources), e.g. `/embed/*`; `fetch_metadata: off` turns the policy off";
/// The fix for a health-check path that covers every path.
pub(crate) const HEALTH_FIX: &str =
    "list the probe paths exactly, e.g. `health_check_paths: [/healthz, /readyz]`";

/// Every problem that makes the configuration unsafe to run, whatever its source:
/// production or staging without domains, `*` or a catch-all setting outside
/// development, and values a file could not hold (a path pattern without `/`, an
/// invalid header name, ...).
pub(crate) fn problems(cfg: &Config) -> Vec<Problem> {
    checked(cfg).0
}

/// [`problems`], and the CORS origin regexes that compiled, each compiled once.
fn checked(cfg: &Config) -> (Vec<Problem>, Vec<OriginRegex>) {
    let regexes = crate::config::origin_regexes(cfg);
    let mut out = Vec::new();
    // Lists set in code skip the file's typer: the same token rules hold (the methods
    // and allowed headers in `config::code_problems`, below).
    let names = [("cors_expose_headers", &cfg.cors_expose_headers)];
    for (key, list) in names {
        for (i, h) in list.iter().enumerate() {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                out.push(
                    Problem::new(
                        ProblemKind::InvalidHeaderName,
                        format!("{key}[{i}]"),
                        "not a valid header name",
                        "use header names such as `content-type` or `x-request-id`",
                    )
                    .with_value(format!("{h:?}"))
                    .at(cfg.sources.get(key).cloned()),
                );
            }
        }
    }
    // A known-weak key in production never starts: what `check` reports as an error
    // is refused where the key is loaded (decision 154). Its value is never shown.
    if cfg.environment.is_strict()
        && let Some(key) = cfg.secret_key.as_ref().map(|s| s.expose())
        && !key.trim().is_empty()
        && let Some(why) = crate::checklist::secret_key_weakness(key)
    {
        out.push(
            Problem::new(
                ProblemKind::WeakSecretKey,
                "secret_key",
                format!("{why}: production refuses a known-weak secret"),
                crate::checklist::WEAK_SECRET_KEY_FIX,
            )
            .at(cfg.sources.get("secret_key").cloned()),
        );
    }
    out.extend(super::routes::route_problems(cfg));
    let src = cfg.sources.get("security_domains").cloned();
    if cfg.environment.is_strict() {
        for (key, value, matched, fix) in catch_alls(cfg, &regexes) {
            let top = key.split('[').next().unwrap_or(&key).to_owned();
            out.push(
                Problem::new(
                    ProblemKind::CatchAll,
                    key,
                    format!(
                        "matches anything (e.g. {matched:?}), which is not allowed in {}",
                        cfg.environment
                    ),
                    fix,
                )
                .with_value(format!("{value:?}"))
                .at(cfg.sources.get(&top).cloned()),
            );
        }
        if cfg.security_domains.is_empty() && cfg.api_url.is_none() && cfg.site_url.is_none() {
            out.push(
                Problem::new(
                    ProblemKind::NoDomains,
                    "security_domains",
                    format!(
                        "{} needs at least one security domain; without one no request could be served",
                        cfg.environment
                    ),
                    "add your domains: security_domains: [example.com, api.example.com]",
                )
                .with_value("[]")
                .at(src.clone()),
            );
        }
        if cfg
            .security_domains
            .iter()
            .any(|d| matches!(d, DomainEntry::Any))
        {
            out.push(
                Problem::new(
                    ProblemKind::WildcardDomain,
                    "security_domains",
                    format!("the wildcard `*` is not allowed in {}", cfg.environment),
                    "list your real domains, e.g. security_domains: [example.com]; `*` is for development only",
                )
                .with_value("\"*\"")
                .at(src),
            );
        }
    }
    // The checks a file's values pass, for a `Config` built in code too.
    out.extend(crate::config::code_problems(cfg, &regexes));
    (out, regexes.into_iter().filter_map(Result::ok).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Environment;

    /// A policy changed in code after derivation meets the refusals of its
    /// configuration in `Security::new`.
    #[test]
    fn policies_changed_in_code_are_validated_again() {
        let probe = crate::probe::RuntimeProbe::none();
        let prod =
            || super::super::derive(&Config::production(["example.com"]).unwrap(), &probe).unwrap();
        assert!(crate::Security::new(prod()).is_ok());
        type Change = fn(&mut super::super::Policy);
        let cases: &[(Change, &str, &str)] = &[
            (
                |p| p.csrf.exempt_paths = vec!["/*".into()],
                "catch-all",
                "csrf_exempt_paths[0]",
            ),
            (
                |p| p.health_check_paths = vec!["/{page}".into()],
                "catch-all",
                "health_check_paths[0]",
            ),
            (
                |p| p.hosts.any = true,
                "wildcard-domain",
                "security_domains",
            ),
            (
                |p| p.cors.origin_regexes = vec![OriginRegex::new("https://.*").unwrap()],
                "catch-all",
                "cors_allowed_origin_regexes[0]",
            ),
            (
                |p| p.csrf.exempt_paths = vec!["hooks".into()],
                "invalid-path",
                "csrf_exempt_paths[0]",
            ),
            (
                |p| p.internal_networks = vec!["0.0.0.0/0".parse().unwrap()],
                "network-too-wide",
                "internal_networks[0]",
            ),
            (
                |p| p.hosts.suffixes = vec![".com".into()],
                "invalid-domain",
                "hosts.suffixes[0]",
            ),
            (
                |p| p.hosts.suffixes = vec![".".into()],
                "invalid-domain",
                "hosts.suffixes[0]",
            ),
            (
                |p| p.hosts.networks = vec!["0.0.0.0/0".parse().unwrap()],
                "network-too-wide",
                "hosts.networks[0]",
            ),
            (
                |p| p.csrf.exempt_paths = vec!["/{a}/{b}/{c}/{d}".into()],
                "catch-all",
                "csrf_exempt_paths[0]",
            ),
            (
                |p| p.csrf.exempt_paths = ('b'..='y').map(|c| format!("/{c}*")).collect(),
                "catch-all",
                "csrf_exempt_paths",
            ),
            (
                |p| {
                    p.cors.origin_regexes =
                        vec![OriginRegex::new(r"https://[a-z0-9.-]+\.com").unwrap()];
                },
                "catch-all",
                "cors_allowed_origin_regexes[0]",
            ),
        ];
        for (change, code, key) in cases {
            let mut p = prod();
            change(&mut p);
            let errs = crate::Security::new(p).unwrap_err();
            let first = errs.0.first().map(|p| (p.kind().code(), p.key()));
            assert_eq!(first, Some((*code, *key)));
        }
        // Development allows what it allows from a file: `*` and catch-alls.
        let mut dev = super::super::derive(&Config::development(), &probe).unwrap();
        dev.hosts.any = true;
        dev.csrf.exempt_paths = vec!["/*".into()];
        assert!(crate::Security::new(dev).is_ok());
    }

    #[test]
    fn cors_lists_set_in_code_are_validated() {
        // (methods, expose headers, problem keys)
        let table: &[(&[&str], &[&str], &[&str])] = &[
            (&["GET", "PATCH", "PROPFIND"], &["x-request-id"], &[]),
            (&["GET", "BAD METHOD"], &[], &["cors_allow_methods[1]"]),
            (
                &["", "G,T"],
                &[],
                &["cors_allow_methods[0]", "cors_allow_methods[1]"],
            ),
            (
                &["GET"],
                &["x-ok", "bad header"],
                &["cors_expose_headers[1]"],
            ),
        ];
        for (methods, expose, keys) in table {
            let mut cfg = Config::development();
            cfg.cors_allow_methods = methods.iter().map(|s| s.to_string()).collect();
            cfg.cors_expose_headers = expose.iter().map(|s| s.to_string()).collect();
            let got: Vec<String> = problems(&cfg).iter().map(|p| p.key().to_owned()).collect();
            assert_eq!(got, *keys, "{methods:?} {expose:?}");
        }
    }

    #[test]
    fn catch_all_regexes_by_what_they_match() {
        // (regex, admits arbitrary foreign origins)
        let table: &[(&str, bool)] = &[
            (".*", true),
            ("https?://.*", true),
            ("https://[^/]+", true),
            ("https?://[a-z0-9.-]+(:[0-9]+)?", true),
            ("(?i)HTTPS?://.+", true),
            (".+\\.invalid", true),
            ("https://[a-z0-9-]+\\.example\\.com", false),
            ("https://app\\.example\\.com", false),
            ("https://.*\\.example\\.com", false),
            ("(", false),
        ];
        for (re, any) in table {
            let admits = OriginRegex::new(re)
                .ok()
                .and_then(|re| regex_admits_foreign(&re));
            assert_eq!(admits.is_some(), *any, "{re}");
        }
    }

    #[test]
    fn catch_all_paths_by_what_they_match() {
        // (pattern, matches arbitrary paths)
        let table: &[(&str, bool)] = &[
            ("/*", true),
            ("/{*rest}", true),
            ("/", true),
            ("/{page}", true),
            ("/{a}/{b}/{c}", true),
            ("/healthz", false),
            ("/api/*", false),
            ("/hooks/{id}", false),
            ("/api/{*rest}", false),
        ];
        for (p, any) in table {
            assert_eq!(path_matches_foreign(p).is_some(), *any, "{p}");
        }
    }

    #[test]
    fn catch_alls_refused_in_strict_environments_only() {
        let mut cfg = Config::production(["example.com"]).unwrap_or_default();
        cfg.cors_allowed_origin_regexes = vec!["https://[^/]+".into()];
        cfg.csrf_exempt_paths = vec!["/hooks/{id}".into(), "/{*rest}".into()];
        cfg.health_check_paths = vec!["/*".into()];
        let errs = validate(&cfg).map(|_| ()).unwrap_err();
        let got: Vec<(&str, &str, Option<&str>)> = errs
            .0
            .iter()
            .map(|p| (p.kind().code(), p.key(), p.value()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "catch-all",
                    "cors_allowed_origin_regexes[0]",
                    Some("\"https://[^/]+\"")
                ),
                ("catch-all", "csrf_exempt_paths[1]", Some("\"/{*rest}\"")),
                ("catch-all", "health_check_paths[0]", Some("\"/*\"")),
            ]
        );
        assert!(errs.0.iter().all(|p| p.kind().is_policy()));
        cfg.environment = Environment::Staging;
        assert_eq!(validate(&cfg).map(|_| ()).unwrap_err().0.len(), 3);
        cfg.environment = Environment::Development;
        assert!(validate(&cfg).is_ok());
    }
}
