//! The security response headers (`X-Content-Type-Options`, `X-Frame-Options`,
//! `Referrer-Policy`, `Cross-Origin-*-Policy`, `X-XSS-Protection`, `Permissions-Policy`,
//! `Content-Security-Policy`), rendered once at build time; a header the handler set is
//! never overwritten. A CSP with a `{nonce}` placeholder is rendered per response with
//! a fresh nonce ([`CspNonce`]); without the placeholder it costs nothing per request.

use std::fmt;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::config::{Problem, ProblemKind};
use crate::policy::{
    CrossOriginEmbedderPolicy, CrossOriginOpenerPolicy, CrossOriginResourcePolicy, FrameOptions,
    HeaderRules, ReferrerPolicy, XssProtection,
};

/// The placeholder a configured CSP uses for the per-response nonce.
pub const NONCE_PLACEHOLDER: &str = "{nonce}";

/// A per-response CSP nonce: 128 bits from the OS CSPRNG, base64url without padding.
///
/// When the configured `content_security_policy` (or its report-only twin) contains
/// `{nonce}`, the layer draws one per request, inserts it into the request extensions
/// before the handler runs, and writes it into the header of that response, so a
/// template can mark its inline scripts: `<script nonce="{{ nonce }}">`.
///
/// ```
/// use hardened::enforce::CspNonce;
///
/// let n = CspNonce::generate();
/// assert_eq!(n.as_str().len(), 22);
/// assert_ne!(n, CspNonce::generate());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CspNonce([u8; 22]);

impl CspNonce {
    /// A fresh nonce from the OS CSPRNG. Should the OS refuse (it does not on any
    /// supported platform), the nonce comes from the standard library's randomly keyed
    /// SipHash over a counter and the time: still unpredictable to a client.
    pub fn generate() -> CspNonce {
        let mut raw = [0u8; 16];
        if getrandom::fill(&mut raw).is_err() {
            raw = fallback_bytes();
        }
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = [b'A'; 22];
        let mut acc: u32 = 0;
        let mut bits = 0;
        let mut i = 0;
        for b in raw {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                if let Some(slot) = out.get_mut(i) {
                    *slot = ALPHABET
                        .get(((acc >> bits) & 63) as usize)
                        .copied()
                        .unwrap_or(b'A');
                }
                i += 1;
            }
        }
        if bits > 0
            && let Some(slot) = out.get_mut(i)
        {
            *slot = ALPHABET
                .get(((acc << (6 - bits)) & 63) as usize)
                .copied()
                .unwrap_or(b'A');
        }
        CspNonce(out)
    }

    /// The nonce as written in the header and in `nonce="…"` attributes.
    pub fn as_str(&self) -> &str {
        // Always ASCII from the alphabet above.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

fn fallback_bytes() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let mut out = [0u8; 16];
    for half in out.chunks_mut(8) {
        let mut h = state.build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(d.as_nanos());
        }
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

impl fmt::Debug for CspNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CspNonce").field(&self.as_str()).finish()
    }
}

impl fmt::Display for CspNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CSP header whose value holds `{nonce}`: the pieces around each placeholder.
#[derive(Debug)]
struct NonceTemplate {
    name: HeaderName,
    pieces: Box<[Box<str>]>,
}

impl NonceTemplate {
    fn render(&self, nonce: &CspNonce) -> Option<HeaderValue> {
        let mut v = String::with_capacity(
            self.pieces.iter().map(|p| p.len()).sum::<usize>() + 22 * self.pieces.len(),
        );
        for (i, p) in self.pieces.iter().enumerate() {
            if i > 0 {
                v.push_str(nonce.as_str());
            }
            v.push_str(p);
        }
        HeaderValue::from_str(&v).ok()
    }
}

/// The rendered security headers.
#[derive(Debug, Default)]
pub(crate) struct SecurityHeaders {
    fixed: Box<[(HeaderName, HeaderValue)]>,
    nonced: Box<[NonceTemplate]>,
}

impl SecurityHeaders {
    /// Renders the headers of `rules`.
    ///
    /// # Errors
    /// A CSP or `Permissions-Policy` that is not a valid header value, naming the key.
    #[allow(clippy::result_large_err)] // build time only
    pub(crate) fn new(rules: &HeaderRules) -> Result<SecurityHeaders, Problem> {
        let mut headers = Vec::new();
        if rules.content_type_nosniff {
            headers.push((
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ));
        }
        let named = [
            (
                header::X_FRAME_OPTIONS,
                rules.x_frame_options.map(FrameOptions::header_value),
            ),
            (
                header::REFERRER_POLICY,
                rules.referrer_policy.map(ReferrerPolicy::header_value),
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                rules
                    .cross_origin_opener_policy
                    .map(CrossOriginOpenerPolicy::header_value),
            ),
            (
                header::X_XSS_PROTECTION,
                rules.xss_protection.map(XssProtection::header_value),
            ),
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                rules
                    .cross_origin_resource_policy
                    .map(CrossOriginResourcePolicy::header_value),
            ),
            (
                HeaderName::from_static("cross-origin-embedder-policy"),
                rules
                    .cross_origin_embedder_policy
                    .map(CrossOriginEmbedderPolicy::header_value),
            ),
        ];
        for (name, value) in named {
            if let Some(v) = value {
                let v =
                    crate::reports::with_report_to(&name, v, rules.isolation_report_to.as_deref());
                headers.push((name, v));
            }
        }
        let mut nonced = Vec::new();
        let texts = [
            (
                "headers.content_security_policy",
                header::CONTENT_SECURITY_POLICY,
                &rules.content_security_policy,
            ),
            (
                "headers.content_security_policy_report_only",
                header::CONTENT_SECURITY_POLICY_REPORT_ONLY,
                &rules.content_security_policy_report_only,
            ),
            (
                "headers.permissions_policy",
                HeaderName::from_static("permissions-policy"),
                &rules.permissions_policy,
            ),
            (
                "reports.path",
                HeaderName::from_static("reporting-endpoints"),
                &rules.reporting_endpoints,
            ),
        ];
        for (key, name, value) in texts {
            let Some(text) = value else { continue };
            let v = header_value(key, text)?;
            if text.contains(NONCE_PLACEHOLDER) && name != "permissions-policy" {
                nonced.push(NonceTemplate {
                    name,
                    pieces: text.split(NONCE_PLACEHOLDER).map(Box::from).collect(),
                });
            } else {
                headers.push((name, v));
            }
        }
        Ok(SecurityHeaders {
            fixed: headers.into_boxed_slice(),
            nonced: nonced.into_boxed_slice(),
        })
    }

    /// Whether a header needs a per-response nonce.
    pub(crate) fn needs_nonce(&self) -> bool {
        !self.nonced.is_empty()
    }

    /// Adds every header the response lacks; `nonce` fills the CSP placeholders (a
    /// fresh one is drawn when the caller has none).
    pub(crate) fn apply(&self, headers: &mut HeaderMap, nonce: Option<&CspNonce>) {
        // One hashed lookup per header (an `entry`), not a lookup and then an insert.
        for (name, value) in self.fixed.iter() {
            if let http::header::Entry::Vacant(slot) = headers.entry(name) {
                slot.insert(value.clone());
            }
        }
        if self.nonced.is_empty() {
            return;
        }
        let drawn;
        let nonce = match nonce {
            Some(n) => n,
            None => {
                drawn = CspNonce::generate();
                &drawn
            }
        };
        for t in self.nonced.iter() {
            if let http::header::Entry::Vacant(slot) = headers.entry(&t.name)
                && let Some(v) = t.render(nonce)
            {
                slot.insert(v);
            }
        }
    }
}

/// A configured header value, or the problem naming `key`.
#[allow(clippy::result_large_err)] // build time only
pub(crate) fn header_value(key: &str, s: &str) -> Result<HeaderValue, Problem> {
    HeaderValue::from_str(s).map_err(|_| {
        Problem::new(
            ProblemKind::InvalidHeaderValue,
            key,
            "not a valid HTTP header value",
            "use visible ASCII characters only",
        )
        .with_value(format!("{s:?}"))
    })
}

#[cfg(test)]
mod tests {
    use http::header::{HeaderMap, HeaderValue, X_FRAME_OPTIONS};

    use super::super::testing::{request, security};
    use crate::config::Config;

    #[test]
    fn nonces_are_fresh_base64url() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let n = super::CspNonce::generate();
            assert_eq!(n.as_str().len(), 22);
            assert!(
                n.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert!(seen.insert(n.as_str().to_owned()));
        }
        // The fallback is as long and as fresh.
        assert_ne!(super::fallback_bytes(), super::fallback_bytes());
    }

    #[test]
    fn configured_headers_table() {
        use crate::config::HeaderOverride::{Remove, Set};
        let mut cfg = Config::production(["example.com"]).unwrap_or_default();
        cfg.headers.content_security_policy =
            Set("default-src 'self'; script-src 'nonce-{nonce}' 'nonce-{nonce}'".into());
        cfg.headers.content_security_policy_report_only = Set("default-src 'none'".into());
        cfg.headers.permissions_policy = Set("camera=()".into());
        cfg.headers.cross_origin_resource_policy = Set("same-site".into());
        cfg.headers.cross_origin_embedder_policy = Set("credentialless".into());
        cfg.headers.referrer_policy = Remove;
        let sec = security(Ok(cfg));
        assert!(sec.needs_csp_nonce());
        let mut d = sec.decide(&request("GET", "/", &[("host", "example.com")]));
        let nonce = super::CspNonce::generate();
        d.facts_mut().set_csp_nonce(nonce);
        let mut h = HeaderMap::new();
        sec.finish(&mut h, d.facts());
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let n = nonce.as_str();
        // (header, expected value)
        let cases = [
            (
                "content-security-policy",
                Some(format!(
                    "default-src 'self'; script-src 'nonce-{n}' 'nonce-{n}'"
                )),
            ),
            (
                "content-security-policy-report-only",
                Some("default-src 'none'".to_owned()),
            ),
            ("permissions-policy", Some("camera=()".to_owned())),
            ("cross-origin-resource-policy", Some("same-site".to_owned())),
            (
                "cross-origin-embedder-policy",
                Some("credentialless".to_owned()),
            ),
            ("referrer-policy", None),
            ("x-frame-options", Some("DENY".to_owned())),
        ];
        for (name, want) in cases {
            assert_eq!(get(name), want, "{name}");
        }
        // Without a nonce in the facts, a fresh one is drawn: never the placeholder.
        let d = sec.decide(&request("GET", "/", &[("host", "example.com")]));
        let mut h = HeaderMap::new();
        sec.finish(&mut h, d.facts());
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(csp.contains("'nonce-") && !csp.contains("{nonce}"), "{csp}");
        // No placeholder: no nonce needed.
        assert!(!security(Config::production(["example.com"])).needs_csp_nonce());
    }

    #[test]
    fn headers_table() {
        // (environment, handler's X-Frame-Options, expected X-Frame-Options)
        let cases: &[(bool, Option<&str>, Option<&str>)] = &[
            (true, None, Some("DENY")),
            (true, Some("SAMEORIGIN"), Some("SAMEORIGIN")),
            (false, Some("SAMEORIGIN"), Some("SAMEORIGIN")),
        ];
        for (production, own, expected) in cases {
            let sec = security(if *production {
                Config::production(["example.com"])
            } else {
                Ok(Config::development())
            });
            let d = sec.decide(&request("GET", "/", &[("host", "example.com")]));
            let mut h = HeaderMap::new();
            if let Some(v) = own {
                h.insert(X_FRAME_OPTIONS, HeaderValue::from_static(v));
            }
            sec.finish(&mut h, d.facts());
            assert_eq!(
                h.get(X_FRAME_OPTIONS).and_then(|v| v.to_str().ok()),
                *expected,
                "{production} {own:?}"
            );
            assert_eq!(
                h.get("x-content-type-options")
                    .and_then(|v| v.to_str().ok()),
                Some("nosniff")
            );
        }
    }
}
