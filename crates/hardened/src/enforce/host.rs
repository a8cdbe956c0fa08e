//! The host check: Django's `ALLOWED_HOSTS` validation of the Host header (and the
//! HTTP/2 `:authority`), plus CIDR ranges for IP hosts.

use std::net::IpAddr;

use ipnet::IpNet;

use super::decision::{Rejection, RejectionKind};
use super::matcher::HostMatcher;
use super::request::{HostError, RequestHead, RequestHost};
use crate::policy::Policy;

/// The compiled host rules.
#[derive(Debug)]
pub(crate) struct HostCheck {
    matcher: HostMatcher,
    /// For the fix of a rejected internal IP.
    internal_networks: Vec<IpNet>,
    container: bool,
}

impl HostCheck {
    pub(crate) fn new(policy: &Policy) -> HostCheck {
        HostCheck {
            matcher: HostMatcher::new(&policy.hosts),
            internal_networks: policy.internal_networks.clone(),
            container: policy.runtime.container,
        }
    }

    /// The request's host when the policy allows it (no allocation).
    pub(crate) fn allowed<'h, 'a>(&self, head: &'h RequestHead<'a>) -> Option<&'h RequestHost<'a>> {
        head.host().filter(|h| self.matcher.allows(h.domain()))
    }

    /// Why the request's host is not allowed: called only to reject.
    pub(crate) fn rejection(&self, head: &RequestHead<'_>) -> Rejection {
        match head.host_result() {
            Ok(host) => self.not_allowed(host.raw(), Some(host.domain())),
            Err(e) => host_error(e),
        }
    }

    fn not_allowed(&self, raw: &str, domain: Option<&str>) -> Rejection {
        if raw.is_empty() {
            return Rejection::fixed(
                RejectionKind::HostMissing,
                "Missing Host header",
                "send a Host header",
            );
        }
        let domain = domain.unwrap_or(raw);
        let internal_ip = !self.container
            && domain
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| {
                    self.internal_networks
                        .iter()
                        .any(|n| n.contains(&ip.to_canonical()))
                });
        Rejection::host_not_allowed(raw, domain, internal_ip)
    }
}

/// The rejection of a request without a usable host.
fn host_error(e: HostError<'_>) -> Rejection {
    match e {
        HostError::Duplicate => Rejection::fixed(
            RejectionKind::HostDuplicate,
            "Multiple Host headers",
            "send exactly one Host header",
        ),
        HostError::NotAscii => Rejection::fixed(
            RejectionKind::HostMalformed,
            "Invalid HTTP_HOST header: not ASCII",
            "send a Host header of ASCII letters, digits, dots, hyphens and a port",
        ),
        HostError::Conflict { host, authority } => Rejection::host_conflict(host, authority),
        HostError::Missing => Rejection::fixed(
            RejectionKind::HostMissing,
            "Missing Host header",
            "send a Host header (HTTP/1.0 clients must add one)",
        ),
        HostError::Malformed(raw) => Rejection::host_malformed(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Expect, Headers, expect, request, security};
    use crate::config::Config;

    #[test]
    fn host_table() {
        // Docker mode allows the internal networks (10.0.0.0/8, ...) by IP.
        let sec = security(
            Config::production(["example.com", ".example.org"]).map(|mut c| {
                c.docker = crate::config::DockerMode::On;
                c
            }),
        );
        use Expect::{Pass, Reject};
        let cases: &[(&str, Headers<'_>, Expect)] = &[
            // exact
            ("/", &[("host", "example.com")], Pass),
            ("/", &[("host", "evil.com")], Reject("host-not-allowed")),
            (
                "/",
                &[("host", "sub.example.com")],
                Reject("host-not-allowed"),
            ),
            // suffix
            ("/", &[("host", "example.org")], Pass),
            ("/", &[("host", "a.b.example.org")], Pass),
            (
                "/",
                &[("host", "example.org.evil.com")],
                Reject("host-not-allowed"),
            ),
            // port, uppercase, trailing dot
            ("/", &[("host", "example.com:8443")], Pass),
            ("/", &[("host", "EXAMPLE.com")], Pass),
            ("/", &[("host", "example.com.")], Pass),
            ("/", &[("host", "example.com:")], Reject("host-malformed")),
            ("/", &[("host", "example.com:x")], Reject("host-malformed")),
            // IP hosts and ranges
            ("/", &[("host", "10.1.2.3:8000")], Pass),
            ("/", &[("host", "192.168.1.1")], Pass),
            ("/", &[("host", "8.8.8.8")], Reject("host-not-allowed")),
            ("/", &[("host", "[::1]")], Pass),
            ("/", &[("host", "[::1")], Reject("host-malformed")),
            (
                "/",
                &[("host", "[2001:db8::1]:80")],
                Reject("host-not-allowed"),
            ),
            // duplicate, missing, malformed, conflict
            (
                "/",
                &[("host", "example.com"), ("host", "example.com")],
                Reject("host-duplicate"),
            ),
            ("/", &[], Reject("host-missing")),
            ("/", &[("host", "exa mple.com")], Reject("host-malformed")),
            ("/", &[("host", "exa_mple.com")], Reject("host-malformed")),
            (
                "http://evil.com/",
                &[("host", "example.com")],
                Reject("host-conflict"),
            ),
            ("http://example.com/", &[], Pass),
            ("http://EXAMPLE.com/", &[("host", "example.com")], Pass),
        ];
        for (uri, headers, expected) in cases {
            expect(&sec, &request("GET", uri, headers), *expected);
        }
    }

    #[test]
    fn non_ascii_host_is_malformed() {
        let sec = security(Config::production(["example.com"]));
        let mut parts = request("GET", "/", &[]);
        parts.headers.insert(
            http::header::HOST,
            http::HeaderValue::from_bytes(b"ex\xe4mple.com").unwrap_or_else(|e| panic!("{e}")),
        );
        expect(&sec, &parts, Expect::Reject("host-malformed"));
    }

    #[test]
    fn private_ip_fix_names_docker() {
        let sec = security(Config::production(["example.com"]));
        let d = sec.decide(&request("GET", "/", &[("host", "10.0.0.5")]));
        let fix = d
            .rejection()
            .map(|r| r.fix().into_owned())
            .unwrap_or_default();
        assert!(fix.contains("DOCKER=true"), "{fix}");
    }
}
