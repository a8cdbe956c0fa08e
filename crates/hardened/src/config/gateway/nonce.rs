//! `gateway.csp_nonce_header`: the request header that carries the response's CSP
//! nonce to the upstream.

/// The default of `gateway.csp_nonce_header`.
pub const DEFAULT_CSP_NONCE_HEADER: &str = "x-csp-nonce";

/// Why `name` cannot carry the CSP nonce to the upstream, or `None` when it can: a
/// header name of letters, digits and `-` (names with `_` or other characters reach a
/// WSGI or CGI application under the same variable as other spellings, so the gateway
/// drops them from every request), that is none of the headers the gateway sets,
/// removes or judges (hop-by-hop, `Host`, `Cookie`, forwarding and client-address
/// headers, `Origin`, `Referer`, `Sec-*`, ...).
///
/// ```
/// use hardened::config::gateway::csp_nonce_header_problem;
///
/// assert_eq!(csp_nonce_header_problem("X-CSP-Nonce"), None);
/// assert!(csp_nonce_header_problem("x_csp_nonce").is_some());
/// assert!(csp_nonce_header_problem("x-forwarded-nonce").is_some());
/// ```
pub fn csp_nonce_header_problem(name: &str) -> Option<&'static str> {
    let lower = name.trim().to_ascii_lowercase();
    if lower.is_empty()
        || !lower
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some("not a header name of letters, digits and `-`");
    }
    let managed = super::from_trusted_proxies_only(&lower)
        || super::from_no_one(&lower)
        || lower.starts_with("x-forwarded")
        || lower.starts_with("sec-")
        || lower.starts_with("proxy")
        || lower.starts_with("access-control-")
        || matches!(
            lower.as_str(),
            "host"
                | "cookie"
                | "authorization"
                | "origin"
                | "referer"
                | "forwarded"
                | "connection"
                | "keep-alive"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
                | "content-length"
                | "content-type"
                | "content-encoding"
                | "expect"
                | "x-request-id"
                | "x-real-ip"
                | "x-csrftoken"
        );
    managed.then_some("a header the gateway sets, removes or judges itself")
}
