//! The request headers a gateway believes only from a trusted proxy, and those it
//! forwards from no one: one list, for the gateway's scrubbing and for the settings
//! that name a request header of the gateway's own (`csp_nonce_header`).

/// Forwarding, scheme, host and client-IP headers that only a trusted proxy may send:
/// upstream frameworks and libraries read each as the client's scheme, host or address.
/// (A `match` on strings compiles to a dispatch on length, then few comparisons.)
pub fn from_trusted_proxies_only(name: &str) -> bool {
    name.starts_with("x-forwarded-")
        || matches!(
            name,
            // Forwarding.
            "forwarded"
                | "x-forwarded"
                | "forwarded-for"
                | "x-original-forwarded-for"
                // Scheme.
                | "front-end-https"
                | "x-url-scheme"
                | "x-scheme"
                | "x-arr-ssl"
                | "cf-visitor"
                // Host.
                | "x-host"
                | "x-original-host"
                // Client address.
                | "x-real-ip"
                | "true-client-ip"
                | "x-client-ip"
                | "client-ip"
                | "cf-connecting-ip"
                | "cf-connecting-ipv6"
                | "x-cluster-client-ip"
                | "fastly-client-ip"
                | "x-originating-ip"
                | "x-remote-ip"
                | "x-remote-addr"
                | "x-proxyuser-ip"
                | "x-envoy-external-address"
                | "x-arr-clientip"
                | "x-appengine-user-ip"
                | "x-azure-clientip"
                | "x-azure-socketip"
        )
}

/// Headers no peer may send upstream: URL overrides some frameworks route by (the policy
/// judged the request's own path, not these), and `Proxy`, which CGI-style servers
/// expose as `HTTP_PROXY`, the variable HTTP client libraries read their proxy from.
pub fn from_no_one(name: &str) -> bool {
    matches!(
        name,
        "x-original-url" | "x-rewrite-url" | "x-override-url" | "x-original-uri" | "proxy"
    )
}
