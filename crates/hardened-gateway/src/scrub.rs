//! Headers that must not cross the gateway as they came: hop-by-hop headers, both ways
//! (RFC 9110 §7.6.1), and request headers the upstream must never see as the client
//! wrote them: forged forwarding, scheme and client-IP headers from untrusted peers,
//! and, from every peer,
//! header names with anything but letters, digits and `-` (WSGI and CGI servers map `_`,
//! and some every other character, onto the same variable as `-`), URL-override headers
//! and `Proxy` (httpoxy).
//!
//! One pass over the header names decides; nothing is allocated unless a header has to
//! go. `HeaderName::as_str` is lowercase, so every comparison here is on lowercase text.

use hardened::config::gateway::{from_no_one, from_trusted_proxies_only};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Hop-by-hop headers (RFC 9110 §7.6.1) never forwarded, as parsed names (no parsing
/// per request). A `static`, not a `const`: a `const` array is built and dropped again
/// at every use, which the per-header scan made 9 names per header per message.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

/// Whether `name` is one of [`HOP_BY_HOP`]: a `match` on the text (a dispatch on its
/// length, then one comparison) instead of nine `HeaderName` comparisons per header.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-authenticate"
    )
}

/// Removes the hop-by-hop headers (RFC 9110 §7.6.1), those named in `Connection`
/// included.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names (most messages have none of these) instead of a hashed
    // lookup per hop-by-hop name.
    if !headers.keys().any(|n| is_hop_by_hop(n.as_str())) {
        return;
    }
    // Headers named in `Connection` are hop-by-hop too, except Host and X-Request-Id:
    // a client must not be able to make the gateway drop the Host it validated or the
    // request id it set.
    if headers.contains_key(header::CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .filter_map(|t| HeaderName::from_bytes(t.trim_ascii()).ok())
            .filter(|n| *n != header::HOST && n.as_str() != "x-request-id")
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Whether a (lowercase) header name is only letters, digits and `-`.
fn is_plain_name(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether the request header `name` must be removed before forwarding, for a peer that
/// is (`trusted`) or is not a trusted proxy.
pub(crate) fn must_drop(name: &str, trusted: bool) -> bool {
    // `X_Forwarded_Proto` and `X-Forwarded-Proto` are one variable to a WSGI server
    // (`X.Forwarded.Proto` too, to some CGI servers), so such a name could stand in for,
    // duplicate or precede any header the gateway sets or scrubs. Dropped from
    // everyone, as nginx does by default (`underscores_in_headers off`,
    // `ignore_invalid_headers on`).
    if !is_plain_name(name) || from_no_one(name) {
        return true;
    }
    !trusted && from_trusted_proxies_only(name)
}

/// Removes every request header [`must_drop`] names. Allocates only when one is present.
pub(crate) fn scrub_request(headers: &mut HeaderMap, trusted: bool) {
    if !headers.keys().any(|n| must_drop(n.as_str(), trusted)) {
        return;
    }
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| must_drop(n.as_str(), trusted))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

/// The gateway owns the CORS policy: when the request's `Origin` is absent or not
/// allowed by the policy (`allowed`: the origin the decision allowed, by the request's
/// route or the global rules), no `Access-Control-*` header of the upstream reaches the
/// client (an upstream answering `Access-Control-Allow-Origin: <any origin>` with
/// credentials would otherwise open it to every site). For an allowed origin the
/// upstream's headers stay, and the layer then sets the policy's own on top.
pub(crate) fn strip_foreign_cors(headers: &mut HeaderMap, allowed: Option<&HeaderValue>) {
    let is_cors = |n: &HeaderName| n.as_str().starts_with("access-control-");
    if !headers.keys().any(is_cors) {
        return;
    }
    if allowed.is_some() {
        return;
    }
    let names: Vec<HeaderName> = headers.keys().filter(|n| is_cors(n)).cloned().collect();
    for name in names {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The name test and the list removed agree, on the list and on near misses.
    #[test]
    fn hop_by_hop_names_are_the_list() {
        for n in &HOP_BY_HOP {
            assert!(is_hop_by_hop(n.as_str()), "{n}");
        }
        for other in [
            "host",
            "content-length",
            "connections",
            "t",
            "tes",
            "trailers",
            "proxy",
            "keep_alive",
            "upgrade-insecure-requests",
        ] {
            assert!(!is_hop_by_hop(other), "{other}");
        }
    }

    #[test]
    fn what_is_dropped_from_whom() {
        // (name, dropped from an untrusted peer, dropped from a trusted proxy)
        for (name, untrusted, trusted) in [
            ("x_forwarded_proto", true, true),
            ("x-forwarded_for", true, true),
            ("host_", true, true),
            ("x_custom_app_header", true, true),
            ("x.forwarded.proto", true, true),
            ("x-forwarded~for", true, true),
            ("x-api-key!", true, true),
            ("x-api-key-2", false, false),
            ("x-original-url", true, true),
            ("x-rewrite-url", true, true),
            ("proxy", true, true),
            ("x-forwarded-proto", true, false),
            ("x-forwarded-for", true, false),
            ("x-forwarded-anything", true, false),
            ("x-forwarded", true, false),
            ("forwarded", true, false),
            ("forwarded-for", true, false),
            ("true-client-ip", true, false),
            ("cf-connecting-ip", true, false),
            ("x-cluster-client-ip", true, false),
            ("x-real-ip", true, false),
            ("front-end-https", true, false),
            ("x-host", true, false),
            ("host", false, false),
            ("cookie", false, false),
            ("x-forwardedx", false, false),
            ("proxy-status", false, false),
            ("x-request-id", false, false),
        ] {
            assert_eq!(must_drop(name, false), untrusted, "{name} from untrusted");
            assert_eq!(must_drop(name, true), trusted, "{name} from trusted");
        }
    }

    #[test]
    fn scrub_removes_every_value_and_keeps_the_rest() {
        let mut h = HeaderMap::new();
        h.append("x_forwarded_proto", "https".parse().unwrap());
        h.append("x-client-ip", "6.6.6.6".parse().unwrap());
        h.append("x-client-ip", "6.6.6.7".parse().unwrap());
        h.append("accept", "*/*".parse().unwrap());
        scrub_request(&mut h, false);
        assert_eq!(h.len(), 1);
        assert_eq!(h.get("accept").unwrap(), "*/*");
    }
}
