//! Compiled matchers: the policy's hosts, origins and paths as hash sets and ranges,
//! so a request costs the same with 10 or 10 000 domains.
//!
//! Host and origin syntax follows Django (`django.http.request.split_domain_port`,
//! `validate_host`, `is_same_domain`) so verdicts agree with a Django deployment.

use std::collections::HashSet as StdHashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::config::OriginRegex;
use crate::domain::{Origin, Scheme};
use crate::policy::{CorsRules, CsrfRules, HostRules, SubdomainPattern};

/// Hash sets with a fixed fast hasher. Safe against hash flooding here: the sets are
/// built once from configuration and request data is only ever looked up, never
/// inserted, so an attacker cannot grow a probe chain.
type HashSet<T> = StdHashSet<T, foldhash::fast::FixedState>;

/// Django's `split_domain_port` on an already lowercased host: `None` when the host
/// does not match `^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(:[0-9]+)?$`. The domain
/// loses one trailing dot.
pub(crate) fn split_domain_port(host: &str) -> Option<(&str, &str)> {
    let (domain, port) = if host.starts_with('[') {
        let end = host.find(']')?;
        let (d, rest) = host.split_at(end + 1);
        let inner = d.get(1..d.len() - 1)?;
        // `[a-f0-9]*:[a-f0-9.:]+`
        let colon = inner.find(':')?;
        let (head, tail) = inner.split_at(colon);
        let tail = tail.get(1..)?;
        if !head
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            || tail.is_empty()
            || !tail.bytes().all(|b| {
                (b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) || b == b'.' || b == b':'
            })
        {
            return None;
        }
        (d, rest)
    } else {
        let end = host.find(':').unwrap_or(host.len());
        let (d, rest) = host.split_at(end);
        if d.is_empty()
            || !d
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            return None;
        }
        (d, rest)
    };
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => "",
        None => return None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p,
        Some(_) => return None,
    };
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    Some((domain, port))
}

/// Parses a host (as `split_domain_port` returns it) as an IP address: strict dotted
/// decimal IPv4 or bracketed IPv6.
fn host_ip(domain: &str) -> Option<IpAddr> {
    if let Some(inner) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    domain.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Calls `f` with `domain` and every parent suffix after a dot, longest first: for
/// `a.b.c`: `a.b.c`, `b.c`, `c`. Also yields the empty remainder of a leading dot.
fn suffixes(domain: &str) -> impl Iterator<Item = &str> {
    std::iter::once(domain).chain(
        domain
            .match_indices('.')
            .filter_map(move |(i, _)| domain.get(i + 1..)),
    )
}

/// `ALLOWED_HOSTS` compiled: exact set, suffix set, CIDR networks.
#[derive(Clone, Debug, Default)]
pub(crate) struct HostMatcher {
    any: bool,
    exact: HashSet<Box<str>>,
    /// Parent domains of `.suffix` patterns, without the dot.
    parents: HashSet<Box<str>>,
    networks: Vec<IpNet>,
}

impl HostMatcher {
    pub(crate) fn new(rules: &HostRules) -> HostMatcher {
        HostMatcher {
            any: rules.any,
            exact: rules.exact.iter().map(|s| s.as_str().into()).collect(),
            parents: rules
                .suffixes
                .iter()
                .map(|s| s.trim_start_matches('.').into())
                .collect(),
            networks: rules.networks.clone(),
        }
    }

    /// Django's `validate_host(domain, ALLOWED_HOSTS)` plus CIDR ranges for IP hosts.
    /// `domain` is lowercase, port stripped, as from [`split_domain_port`].
    pub(crate) fn allows(&self, domain: &str) -> bool {
        if self.any || self.exact.contains(domain) {
            return true;
        }
        // `.example.com` matches `example.com` and anything ending in `.example.com`.
        if !self.parents.is_empty() && suffixes(domain).any(|s| self.parents.contains(s)) {
            return true;
        }
        if !self.networks.is_empty()
            && let Some(ip) = host_ip(domain)
        {
            return self.networks.iter().any(|n| n.contains(&ip));
        }
        false
    }
}

/// A borrowed, parsed origin-like value (`scheme://netloc`), no allocation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OriginParts<'a> {
    pub(crate) scheme: Scheme,
    /// Lowercase host (brackets kept for IPv6), trailing dot removed.
    pub(crate) host: &'a str,
    /// Effective port.
    pub(crate) port: u16,
    /// The port was written explicitly.
    pub(crate) explicit_port: bool,
}

/// Splits `scheme://rest` with a case-insensitive http/https scheme.
fn split_scheme(value: &str) -> Option<(Scheme, &str)> {
    let (scheme, rest) = value.split_once("://")?;
    Some((Scheme::parse(scheme)?, rest))
}

impl<'a> OriginParts<'a> {
    /// Parses a canonical-form origin (`https://example.com[:port]`, lowercase host).
    /// Returns `None` for anything else (uppercase, IDN, trailing junk): callers fall
    /// back to the allocating normalizer.
    pub(crate) fn parse_canonical(value: &'a str) -> Option<OriginParts<'a>> {
        if !value.starts_with("http://") && !value.starts_with("https://") {
            // Uppercase scheme (`HTTPS://`): not canonical, normalize first.
            return None;
        }
        let (scheme, rest) = split_scheme(value)?;
        let (host, port) = split_domain_port(rest)?;
        if host.is_empty() || host.len() != rest.len() - port.len() - usize::from(!port.is_empty())
        {
            // A trailing dot was stripped or the netloc is otherwise not canonical.
            return None;
        }
        let (port_num, explicit) = if port.is_empty() {
            (scheme.default_port(), false)
        } else {
            (port.parse::<u16>().ok()?, true)
        };
        Some(OriginParts {
            scheme,
            host,
            port: port_num,
            explicit_port: explicit,
        })
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "[::1]"
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Subdomain patterns grouped by (scheme, port): few groups, each a hash set.
#[derive(Clone, Debug, Default)]
struct SubdomainSet {
    groups: Vec<(Scheme, u16, HashSet<Box<str>>)>,
}

impl SubdomainSet {
    fn new(patterns: &[SubdomainPattern]) -> SubdomainSet {
        let mut groups: Vec<(Scheme, u16, HashSet<Box<str>>)> = Vec::new();
        for p in patterns {
            let port = p.port.unwrap_or(p.scheme.default_port());
            match groups
                .iter_mut()
                .find(|(s, po, _)| *s == p.scheme && *po == port)
            {
                Some((_, _, set)) => {
                    set.insert(p.domain.as_str().into());
                }
                None => groups.push((
                    p.scheme,
                    port,
                    [Box::<str>::from(p.domain.as_str())].into_iter().collect(),
                )),
            }
        }
        SubdomainSet { groups }
    }

    fn matches(&self, o: &OriginParts<'_>) -> bool {
        self.groups.iter().any(|(s, p, set)| {
            *s == o.scheme && *p == o.port && suffixes(o.host).any(|x| set.contains(x))
        })
    }
}

/// Loopback origins of development.
#[derive(Clone, Debug, Default)]
struct LoopbackRule {
    any_port: bool,
    ranges: Vec<(u16, u16)>,
    ports: Vec<u16>,
}

impl LoopbackRule {
    fn matches(&self, o: &OriginParts<'_>) -> bool {
        if !is_loopback_host(o.host) {
            return false;
        }
        self.any_port
            || self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&o.port))
            || self.ports.contains(&o.port)
    }

    fn is_empty(&self) -> bool {
        !self.any_port && self.ranges.is_empty() && self.ports.is_empty()
    }
}

/// CORS allowed origins or CSRF trusted origins, compiled.
#[derive(Clone, Debug, Default)]
pub(crate) struct OriginMatcher {
    exact: HashSet<Box<str>>,
    subdomains: SubdomainSet,
    loopback: LoopbackRule,
    regexes: Vec<OriginRegex>,
    /// `host[:port]` of each exact origin (CSRF Referer check).
    netlocs: HashSet<Box<str>>,
    /// `domain[:port]` of each subdomain pattern (CSRF Referer check).
    subdomain_netlocs: HashSet<Box<str>>,
}

impl OriginMatcher {
    pub(crate) fn cors(rules: &CorsRules) -> OriginMatcher {
        OriginMatcher {
            exact: rules.origins.iter().map(|o| o.to_string().into()).collect(),
            subdomains: SubdomainSet::new(&rules.subdomains),
            loopback: LoopbackRule {
                any_port: rules.loopback_any_port,
                ..LoopbackRule::default()
            },
            // Compiled once, by validation: the policy's own. Whole-value match:
            // django-cors-headers uses `re.match` (anchored at the start only), which
            // lets `https://app\.example\.com` also match
            // `https://app.example.com.evil.net`. The regexes anchor both ends.
            regexes: rules.origin_regexes.clone(),
            netlocs: HashSet::default(),
            subdomain_netlocs: HashSet::default(),
        }
    }

    pub(crate) fn csrf(rules: &CsrfRules) -> OriginMatcher {
        OriginMatcher {
            exact: rules
                .trusted_origins
                .iter()
                .map(|o| o.to_string().into())
                .collect(),
            subdomains: SubdomainSet::new(&rules.subdomains),
            loopback: LoopbackRule {
                any_port: false,
                ranges: rules.loopback_port_ranges.clone(),
                ports: rules.loopback_ports.clone(),
            },
            regexes: Vec::new(),
            netlocs: rules
                .trusted_origins
                .iter()
                .map(|o| o.authority().into())
                .collect(),
            subdomain_netlocs: rules
                .subdomains
                .iter()
                .map(|p| match p.port {
                    Some(port) => format!("{}:{port}", p.domain).into(),
                    None => p.domain.as_str().into(),
                })
                .collect(),
        }
    }

    /// Whether the `Origin` header value is allowed. Compares after normalization
    /// (case, default port, trailing dot, IDNA); `null` and malformed values never match
    /// (except through a user regex, which sees the raw value).
    pub(crate) fn allows(&self, value: &str) -> bool {
        if self.exact.contains(value) {
            return true;
        }
        if self.regexes.iter().any(|re| re.is_match(value)) {
            return true;
        }
        if let Some(parts) = OriginParts::parse_canonical(value) {
            // Canonical form except maybe an explicit default port: `https://a.com:443`.
            if parts.explicit_port && parts.port == parts.scheme.default_port() {
                return self.allows_normalized(value);
            }
            return self.rules_match(&parts);
        }
        self.allows_normalized(value)
    }

    fn allows_normalized(&self, value: &str) -> bool {
        let Some(o) = Origin::parse_header(value) else {
            return false;
        };
        let canonical = o.to_string();
        if self.exact.contains(canonical.as_str()) {
            return true;
        }
        let host = o.host.to_string();
        let parts = OriginParts {
            scheme: o.scheme,
            host: &host,
            port: o.effective_port(),
            explicit_port: o.port.is_some(),
        };
        self.rules_match(&parts)
    }

    fn rules_match(&self, o: &OriginParts<'_>) -> bool {
        (!self.subdomains.groups.is_empty() && self.subdomains.matches(o))
            || (!self.loopback.is_empty() && self.loopback.matches(o))
    }

    /// Django's Referer check against `CSRF_TRUSTED_ORIGINS` hosts: the Referer's
    /// `netloc` (lowercased) equals a trusted origin's `host[:port]` or ends with a
    /// subdomain pattern's `.domain[:port]`, whatever the trusted origin's scheme.
    pub(crate) fn allows_referer_netloc(&self, netloc: &str) -> bool {
        if self.netlocs.contains(netloc)
            || (!self.subdomain_netlocs.is_empty()
                && suffixes(netloc).any(|s| self.subdomain_netlocs.contains(s)))
        {
            return true;
        }
        if self.loopback.is_empty() {
            return false;
        }
        // The development loopback rule stands for `http://localhost:3000`-style
        // entries: the port is always explicit there.
        match split_domain_port(netloc) {
            Some((host, port)) if !port.is_empty() => match port.parse::<u16>() {
                Ok(p) => self.loopback.matches(&OriginParts {
                    scheme: Scheme::Https,
                    host,
                    port: p,
                    explicit_port: true,
                }),
                Err(_) => false,
            },
            _ => false,
        }
    }
}

/// Path patterns, the one grammar of every path list (`csrf_exempt_paths`,
/// `health_check_paths`, a gateway's unbuffered paths): exact paths, `prefix*` /
/// `/prefix/*` prefixes (also `/prefix/{*rest}`), and axum-style `{param}` segments. A
/// path that may mean another path downstream (`.`/`..` segments, `%2e`, `%2f`, `%5c`,
/// `\`, `;`) never matches: whatever the list grants (an exemption, streaming), such a
/// path does not get it.
///
/// ```
/// use hardened::enforce::PathSet;
///
/// let patterns = vec!["/hooks/{id}".to_owned(), "/api/*".to_owned()];
/// let set = PathSet::new(&patterns);
/// assert!(set.matches("/hooks/42") && set.matches("/api/v1/x"));
/// assert!(!set.matches("/hooks/42/x") && !set.matches("/api/../admin"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct PathSet {
    exact: HashSet<Box<str>>,
    prefixes: Vec<Box<str>>,
    segmented: Vec<Vec<Box<str>>>,
}

impl PathSet {
    /// The set of `patterns` (validated where they are configured: each starts with
    /// `/`).
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a String>) -> PathSet {
        let mut set = PathSet::default();
        for p in patterns {
            if let Some(prefix) = p.strip_suffix('*') {
                set.prefixes.push(prefix.into());
            } else if let Some(i) = p.find("/{*") {
                set.prefixes.push(p.get(..=i).unwrap_or("/").into());
            } else if p.contains('{') {
                set.segmented
                    .push(p.split('/').map(Box::from).collect::<Vec<_>>());
            } else {
                set.exact.insert(p.as_str().into());
            }
        }
        set
    }

    /// Whether the set has no pattern.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty() && self.segmented.is_empty()
    }

    /// Whether `path` (a request path, as sent) matches a pattern.
    pub fn matches(&self, path: &str) -> bool {
        if self.is_empty() || is_ambiguous_path(path) {
            return false;
        }
        self.exact.contains(path)
            || self.prefixes.iter().any(|p| path.starts_with(&**p))
            || self.segmented.iter().any(|segs| {
                let mut it = path.split('/');
                segs.iter().all(|s| match it.next() {
                    Some(x) if s.starts_with('{') && s.ends_with('}') => !x.is_empty(),
                    Some(x) => x == &**s,
                    None => false,
                }) && it.next().is_none()
            })
    }
}

/// Whether a path may mean another path downstream (a gateway's upstream, a file
/// server, a servlet container): a `.` or `..` segment (literal or `%2e`), an encoded
/// slash or backslash (`%2f`, `%5c`), a backslash, or a `;` path parameter (`..;/`).
/// Such a path never matches an exemption pattern; browsers never send them.
pub(crate) fn is_ambiguous_path(path: &str) -> bool {
    if path.contains(['\\', ';']) {
        return true;
    }
    let b = path.as_bytes();
    if b.windows(3).any(|w| {
        w.first() == Some(&b'%')
            && (w
                .get(1..3)
                .is_some_and(|h| h.eq_ignore_ascii_case(b"2f") || h.eq_ignore_ascii_case(b"5c")))
    }) {
        return true;
    }
    path.split('/').any(|seg| {
        let mut rest = seg;
        let mut dots = 0;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                rest = r;
            } else if let Some(r) = rest.get(..3).filter(|p| p.eq_ignore_ascii_case("%2e")) {
                let _ = r;
                rest = rest.get(3..).unwrap_or("");
            } else {
                return false;
            }
            dots += 1;
        }
        dots == 1 || dots == 2
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn split_domain_port_like_django() {
        let table: &[(&str, Option<(&str, &str)>)] = &[
            ("example.com", Some(("example.com", ""))),
            ("example.com:8080", Some(("example.com", "8080"))),
            ("example.com.", Some(("example.com", ""))),
            ("example.com.:80", Some(("example.com", "80"))),
            ("[::1]", Some(("[::1]", ""))),
            ("[::1]:8000", Some(("[::1]", "8000"))),
            ("[::ffff:127.0.0.1]", Some(("[::ffff:127.0.0.1]", ""))),
            ("example.com:", None),
            ("example.com:abc", None),
            ("exa mple.com", None),
            ("user@example.com", None),
            ("", None),
            ("[::1", None),
            ("[]", None),
            ("[g::1]", None),
            ("example.com:80:80", None),
            ("ex_ample.com", None),
        ];
        for (input, want) in table {
            assert_eq!(split_domain_port(input), *want, "{input}");
        }
    }

    #[test]
    fn host_matcher() {
        let m = HostMatcher::new(&HostRules {
            any: false,
            exact: vec!["example.com".into(), "[::1]".into()],
            suffixes: vec![".corp.com".into()],
            networks: vec!["10.0.0.0/8".parse().unwrap()],
        });
        for ok in [
            "example.com",
            "[::1]",
            "corp.com",
            "a.corp.com",
            "a.b.corp.com",
            "10.1.2.3",
        ] {
            assert!(m.allows(ok), "{ok}");
        }
        for bad in [
            "evil.com",
            "example.com.evil.com",
            "evilexample.com",
            "xcorp.com",
            "11.0.0.1",
            "[::2]",
            "10.0.0.256",
        ] {
            assert!(!m.allows(bad), "{bad}");
        }
    }

    #[test]
    fn path_set() {
        let pats: Vec<String> = vec!["/healthz".into(), "/api/*".into(), "/hooks/{id}/run".into()];
        let s = PathSet::new(&pats);
        assert!(s.matches("/healthz"));
        assert!(!s.matches("/healthz/x"));
        assert!(s.matches("/api/x"));
        assert!(s.matches("/hooks/42/run"));
        assert!(!s.matches("/hooks//run"));
        assert!(!s.matches("/hooks/42/run/x"));
        for p in [
            "/api/../admin",
            "/api/%2e%2e/admin",
            "/api/./x",
            "/hooks/../run",
            "/api/%2E/x",
        ] {
            assert!(!s.matches(p), "{p}");
        }
        assert!(s.matches("/api/...x"));
    }
}
