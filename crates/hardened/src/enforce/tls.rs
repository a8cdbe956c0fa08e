//! TLS: whether a request is secure (believing `X-Forwarded-Proto` from trusted proxies
//! only), the redirect to https, and HSTS.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request;
use ipnet::IpNet;

use super::request::{RequestHead, RequestHost, TlsConnection};

/// The compiled TLS rules.
#[derive(Debug)]
pub(crate) struct TlsCheck {
    pub(crate) proxy_any: bool,
    pub(crate) proxy_nets: Vec<IpNet>,
    pub(crate) proxy_header: Option<HeaderName>,
    pub(crate) ssl_redirect: bool,
    pub(crate) hsts: Option<HeaderValue>,
}

impl TlsCheck {
    /// Whether `peer` may set forwarded headers.
    pub(crate) fn trusts_proxy(&self, peer: Option<IpAddr>) -> bool {
        if self.proxy_any {
            return true;
        }
        match peer {
            Some(ip) => {
                let ip = ip.to_canonical();
                self.proxy_nets.iter().any(|n| n.contains(&ip))
            }
            None => false,
        }
    }

    /// Whether the request is secure: over TLS terminated in this process (the
    /// [`TlsConnection`] extension), or marked https by a trusted proxy's
    /// `X-Forwarded-Proto` (Django: the first comma-separated value must equal `https`).
    pub(crate) fn is_secure(&self, parts: &request::Parts, trusted_proxy: bool) -> bool {
        if let Some(name) = &self.proxy_header
            && trusted_proxy
            && let Some(v) = parts.headers.get(name)
        {
            let first = v.as_bytes().split(|b| *b == b',').next().unwrap_or(&[]);
            return first.trim_ascii() == b"https";
        }
        // Never the request target's scheme (`GET https://... HTTP/1.1`, HTTP/2
        // `:scheme`): the client writes it, whatever the connection is.
        parts.extensions.get::<TlsConnection>().is_some()
    }

    /// The https location to redirect to, when `ssl_redirect` is on and the request is
    /// plain HTTP to an allowed host: the same host and port, or, when the server
    /// names its https port (its own TLS listener), that port (none for 443).
    pub(crate) fn redirect(
        &self,
        head: &RequestHead<'_>,
        host: Option<&RequestHost<'_>>,
        https_port: Option<u16>,
    ) -> Option<HeaderValue> {
        if !self.ssl_redirect || head.secure() {
            return None;
        }
        let host = host?;
        let raw = host.raw();
        // The host as the client wrote it, without its port.
        let name = host
            .port()
            .and_then(|p| raw.strip_suffix(p))
            .and_then(|r| r.strip_suffix(':'))
            .unwrap_or(raw);
        let location = match https_port {
            None => format!("https://{raw}{}", head.path_and_query()),
            Some(443) => format!("https://{name}{}", head.path_and_query()),
            Some(port) => format!("https://{name}:{port}{}", head.path_and_query()),
        };
        HeaderValue::from_str(&location).ok()
    }

    /// Adds HSTS to the response of a secure request, unless the handler set it.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, secure: bool) {
        if secure
            && let Some(hsts) = &self.hsts
            && !headers.contains_key(header::STRICT_TRANSPORT_SECURITY)
        {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Expect, Headers, expect, from_peer, request, security};
    use crate::config::Config;

    fn redirecting() -> crate::Security {
        security(Config::production(["example.com"]).map(|mut c| {
            c.ssl_redirect = Some(true);
            c.health_check_paths = vec!["/healthz".into()];
            c
        }))
    }

    /// A server with its own https listener points the redirect at that port.
    #[test]
    fn redirect_to_the_https_port() {
        let sec = security(
            Config::production(["example.com", "10.0.0.1"]).map(|mut c| {
                c.ssl_redirect = Some(true);
                c
            }),
        );
        let cases = [
            ("example.com", "/a?b", 8443, "https://example.com:8443/a?b"),
            ("example.com:8080", "/a", 8443, "https://example.com:8443/a"),
            ("Example.COM:8080", "/a", 443, "https://Example.COM/a"),
            ("example.com", "/", 443, "https://example.com/"),
            ("10.0.0.1:80", "/?q=:1", 4443, "https://10.0.0.1:4443/?q=:1"),
        ];
        for (host, target, port, to) in cases {
            let (parts, ()) = http::Request::get(target)
                .header("host", host)
                .body(())
                .unwrap_or_else(|e| panic!("{e}"))
                .into_parts();
            let client = sec.client(&parts);
            let d = sec.decide_for(&parts, crate::Checks::ALL, client, Some(port));
            let location = match d {
                crate::Decision::Answer(crate::enforce::Answer::Redirect(l), _) => l,
                other => panic!("{host}{target}: {other:?}"),
            };
            assert_eq!(location.to_str().ok(), Some(to), "{host}{target}");
        }
    }

    #[test]
    fn redirect_table() {
        let sec = redirecting();
        use Expect::{Pass, Redirect, Reject};
        let xfp = ("x-forwarded-proto", "https");
        let cases: &[(&str, Headers<'_>, Option<&str>, Expect)] = &[
            (
                "/a?b=1",
                &[("host", "example.com")],
                None,
                Redirect("https://example.com/a?b=1"),
            ),
            (
                "/",
                &[("host", "example.com:8080")],
                None,
                Redirect("https://example.com:8080/"),
            ),
            // A trusted proxy says https: no redirect.
            (
                "/",
                &[("host", "example.com"), xfp],
                Some("127.0.0.1"),
                Pass,
            ),
            ("/", &[("host", "example.com"), xfp], Some("10.1.2.3"), Pass),
            // An untrusted peer's header is ignored; so is a header without a peer.
            (
                "/",
                &[("host", "example.com"), xfp],
                Some("203.0.113.9"),
                Redirect("https://example.com/"),
            ),
            (
                "/",
                &[("host", "example.com"), xfp],
                None,
                Redirect("https://example.com/"),
            ),
            (
                "/",
                &[
                    ("host", "example.com"),
                    ("x-forwarded-proto", "http, https"),
                ],
                Some("127.0.0.1"),
                Redirect("https://example.com/"),
            ),
            // The host check comes first; health-check paths are never redirected.
            (
                "/",
                &[("host", "evil.com")],
                None,
                Reject("host-not-allowed"),
            ),
            ("/healthz", &[("host", "example.com")], None, Pass),
            ("/healthz", &[("host", "10.0.0.7")], None, Pass),
        ];
        for (uri, headers, peer, expected) in cases {
            let mut parts = request("GET", uri, headers);
            if let Some(ip) = peer {
                parts = from_peer(parts, ip);
            }
            expect(&sec, &parts, *expected);
        }
    }

    #[test]
    fn secure_table() {
        let sec = redirecting();
        let xfp = ("x-forwarded-proto", "https");
        let cases: &[(Headers<'_>, Option<&str>, bool)] = &[
            (&[xfp], Some("127.0.0.1"), true),
            (&[xfp], Some("::ffff:127.0.0.1"), true),
            (
                &[("x-forwarded-proto", " https , http")],
                Some("127.0.0.1"),
                true,
            ),
            (&[("x-forwarded-proto", "HTTPS")], Some("127.0.0.1"), false),
            (&[xfp], Some("8.8.8.8"), false),
            (&[xfp], None, false),
            (&[], Some("127.0.0.1"), false),
        ];
        for (headers, peer, secure) in cases {
            let mut parts = request("GET", "https://example.com/", headers);
            if let Some(ip) = peer {
                parts = from_peer(parts, ip);
            }
            assert_eq!(sec.is_secure(&parts), *secure, "{headers:?} from {peer:?}");
        }
        let mut parts = request("GET", "/", &[]);
        parts.extensions.insert(crate::TlsConnection);
        assert!(sec.is_secure(&parts));
    }
}
