//! [`Upstream`]: the service a gateway forwards to, and how its URL is checked.

use std::fmt;
use std::str::FromStr;

use hardened::config::gateway::{UpstreamProblem, check_upstream};
use http::Uri;

/// The service a [`Gateway`](crate::Gateway) forwards to: an absolute `http://host[:port][/base]` URL.
/// Build it with [`parse_upstream`] or `str::parse`.
///
/// ```
/// use hardened_gateway::Upstream;
///
/// let up: Upstream = "http://127.0.0.1:9000/api".parse()?;
/// assert_eq!(up.to_string(), "http://127.0.0.1:9000/api");
/// assert!("https://127.0.0.1:9000".parse::<Upstream>().is_err());
/// # Ok::<(), hardened_gateway::UpstreamError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    uri: Uri,
    /// `host:port` to connect to.
    addr: String,
}

impl Upstream {
    /// The upstream URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The `host:port` the gateway connects to (port 80 when the URL has none).
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.uri.fmt(f)
    }
}

impl FromStr for Upstream {
    type Err = UpstreamError;

    fn from_str(s: &str) -> Result<Upstream, UpstreamError> {
        parse_upstream(s)
    }
}

/// Why an upstream URL was refused by [`parse_upstream`] (the check is the library's
/// [`check_upstream`](hardened::config::gateway::check_upstream), the one the
/// `gateway.upstream` key and the `--upstream` flag go through).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// Not a URL at all.
    #[error("upstream {input:?}: not a URL; give an absolute URL such as http://127.0.0.1:9000")]
    Invalid {
        /// The text given.
        input: String,
    },
    /// An `https://` URL: the gateway speaks plain HTTP to a local or internal service.
    #[error(
        "upstream {input:?}: https upstreams are not supported; the gateway speaks plain HTTP to a local or internal service"
    )]
    Https {
        /// The text given.
        input: String,
    },
    /// Not an absolute `http://host...` URL (no scheme, another scheme, or no host).
    #[error("upstream {input:?}: give an absolute URL such as http://127.0.0.1:9000")]
    NotAbsolute {
        /// The text given.
        input: String,
    },
}

/// Parses and checks an upstream URL: absolute, `http`, with a host.
///
/// # Errors
/// [`UpstreamError`] when the text is not a URL, is `https`, or is not an absolute
/// `http` URL with a host.
pub fn parse_upstream(input: &str) -> Result<Upstream, UpstreamError> {
    let input_owned = || input.to_owned();
    match check_upstream(input) {
        Ok(uri) => Ok(Upstream {
            addr: upstream_addr(&uri),
            uri,
        }),
        Err(UpstreamProblem::NotUrl) => Err(UpstreamError::Invalid {
            input: input_owned(),
        }),
        Err(UpstreamProblem::Https) => Err(UpstreamError::Https {
            input: input_owned(),
        }),
        Err(_) => Err(UpstreamError::NotAbsolute {
            input: input_owned(),
        }),
    }
}
/// `host:port` of an http upstream URI.
fn upstream_addr(u: &Uri) -> String {
    let host = u.host().unwrap_or("127.0.0.1");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = u.port_u16().unwrap_or(80);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
