//! Why a `security_domains` entry is rejected, and how to fix it.

/// Why a domain entry was rejected. Each variant's message names the problem; use
/// [`DomainError::hint`] for the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// The entry is empty or only whitespace.
    #[error("empty domain entry")]
    Empty,
    /// The scheme is not http or https.
    #[error("unsupported scheme {0:?}: only http and https are web origins")]
    Scheme(String),
    /// The entry carries a path.
    #[error("a domain entry must not contain a path ({0:?})")]
    Path(String),
    /// The entry carries a query string.
    #[error("a domain entry must not contain a query string")]
    Query,
    /// The entry carries a fragment.
    #[error("a domain entry must not contain a fragment")]
    Fragment,
    /// The entry carries user information (`user:pass@`).
    #[error("a domain entry must not contain user information (`user@`)")]
    Userinfo,
    /// The port is not a number in 1..=65535.
    #[error("invalid port {0:?}: must be a number from 1 to 65535")]
    Port(String),
    /// The host is not a valid domain name or IP address.
    #[error("invalid host {host:?}: {why}")]
    Host {
        /// The host as written.
        host: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A wildcard in a place where only a leading `*.` is allowed.
    #[error("wildcards are only allowed as `*` or a leading `*.` label")]
    Wildcard,
    /// A subdomain pattern over a public suffix (`.co.uk`, `*.github.io`): every site
    /// registered under it would be trusted.
    #[error(
        "{0:?} is a public suffix: a subdomain pattern over it would trust every site registered under it"
    )]
    PublicSuffix(String),
}

impl DomainError {
    /// A one-line suggestion for fixing the entry.
    pub fn hint(&self) -> &'static str {
        match self {
            DomainError::Empty => "remove the empty entry",
            DomainError::Scheme(_) => {
                "write the domain as `example.com`, `https://example.com` or `http://example.com:8080`"
            }
            DomainError::Path(_) | DomainError::Query | DomainError::Fragment => {
                "list origins only: `https://example.com`, without path, query or fragment"
            }
            DomainError::Userinfo => {
                "remove the `user@` part; credentials never belong in a domain"
            }
            DomainError::Port(_) => "use a port from 1 to 65535, e.g. `https://example.com:8443`",
            DomainError::Host { .. } => {
                "use a domain name such as `example.com`, an IPv4 address or a bracketed IPv6 address like `[::1]`"
            }
            DomainError::Wildcard => {
                "use `*.example.com` (or `.example.com`) for a domain and its subdomains"
            }
            DomainError::PublicSuffix(_) => {
                "list the exact hosts you own, e.g. `myapp.github.io`, or a pattern over your own registered domain (`.myapp.co.uk`)"
            }
        }
    }
}
