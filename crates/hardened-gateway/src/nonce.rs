//! The CSP nonce for the application behind the gateway: when the policy's CSP has
//! `{nonce}`, the security layer draws one nonce per request and writes it into the
//! CSP header of the response; the proxy passes the same value to the upstream in a
//! request header ([`GatewayOptions::csp_nonce_header`], `X-CSP-Nonce` by default), so
//! the application's templates can put it on the inline scripts they mean to run.
//!
//! Whatever the client sent under that name is removed first, from every request,
//! with or without a nonce: a client that chose the nonce could make the application
//! stamp it on a script the attacker controls. Every spelling is covered: header names
//! are case-insensitive (the map holds them lowercased, so one removal takes every
//! line, duplicates included), and the spellings with `_` or other characters that a
//! WSGI server maps onto the same variable never reach the upstream at all (see
//! `scrub`).
//!
//! The gateway never rewrites the HTML to add nonces itself: a proxy that nonces every
//! inline script also nonces the one an attacker injected (see `docs/decisions.md`).
//!
//! [`GatewayOptions::csp_nonce_header`]: crate::GatewayOptions::csp_nonce_header

use hardened::enforce::CspNonce;
use http::header::{HeaderName, HeaderValue};
use http::request;

/// Removes every copy of `name` the client sent and, when the security layer drew a
/// nonce for this request, sets `name` to it.
pub(crate) fn pass_to_upstream(parts: &mut request::Parts, name: &HeaderName) {
    parts.headers.remove(name);
    if let Some(nonce) = parts.extensions.get::<CspNonce>()
        && let Ok(value) = HeaderValue::from_str(nonce.as_str())
    {
        parts.headers.insert(name.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parts(headers: &[(&str, &str)]) -> request::Parts {
        let mut b = http::Request::get("/");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn client_copies_go_and_the_drawn_nonce_comes() {
        let name = HeaderName::from_static("x-csp-nonce");
        let forged = [
            ("X-CSP-Nonce", "attacker"),
            ("x-csp-nonce", "attacker2"),
            ("X-Csp-Nonce", "attacker3"),
        ];
        // No nonce drawn (the CSP has no `{nonce}`): every copy removed, none set.
        let mut p = parts(&forged);
        pass_to_upstream(&mut p, &name);
        assert!(p.headers.get_all(&name).iter().next().is_none());
        // A nonce drawn: exactly that value, once.
        let mut p = parts(&forged);
        let nonce = CspNonce::generate();
        p.extensions.insert(nonce);
        pass_to_upstream(&mut p, &name);
        let values: Vec<_> = p.headers.get_all(&name).iter().collect();
        assert_eq!(values, [nonce.as_str()]);
        // Another configured name: the default name is then an ordinary header.
        let other = HeaderName::from_static("x-nonce");
        let mut p = parts(&[("x-nonce", "attacker"), ("x-csp-nonce", "kept")]);
        p.extensions.insert(nonce);
        pass_to_upstream(&mut p, &other);
        assert_eq!(p.headers.get(&other).unwrap(), nonce.as_str());
        assert_eq!(p.headers.get(&name).unwrap(), "kept");
    }
}
