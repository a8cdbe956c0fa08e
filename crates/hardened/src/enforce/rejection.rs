//! Why a request was rejected: [`Check`], [`RejectionKind`] and [`Rejection`], whose
//! reason and fix texts are written only when asked for.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

/// Which check rejected a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Check {
    /// The host check.
    Host,
    /// The TLS redirect.
    Tls,
    /// CORS.
    Cors,
    /// CSRF.
    Csrf,
    /// The Origin check of WebSocket (and other upgrade) handshakes.
    Websocket,
    /// The resource isolation policy on `Sec-Fetch-*` headers (`fetch_metadata`).
    #[serde(rename = "fetch-metadata")]
    FetchMetadata,
}

impl Check {
    /// The check's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Host => "host",
            Check::Tls => "tls",
            Check::Cors => "cors",
            Check::Csrf => "csrf",
            Check::Websocket => "websocket",
            Check::FetchMetadata => "fetch-metadata",
        }
    }
}

/// Why a request was rejected; each kind has a stable code ([`RejectionKind::code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// `host-not-allowed`: the host is not in the policy.
    HostNotAllowed,
    /// `host-malformed`: not a valid host (or not ASCII).
    HostMalformed,
    /// `host-duplicate`: more than one Host header.
    HostDuplicate,
    /// `host-conflict`: the Host header disagrees with the request target's authority.
    HostConflict,
    /// `host-missing`: no Host header and no authority.
    HostMissing,
    /// `csrf-bad-origin`: the Origin is neither the request's own nor trusted (or
    /// there are several).
    CsrfBadOrigin,
    /// `csrf-cross-site`: `Sec-Fetch-Site: cross-site` without an Origin.
    CsrfCrossSite,
    /// `csrf-no-referer`: a secure unsafe request without Origin or Referer.
    CsrfNoReferer,
    /// `csrf-malformed-referer`: a Referer that is not an absolute URL.
    CsrfMalformedReferer,
    /// `csrf-insecure-referer`: an http Referer on a secure request.
    CsrfInsecureReferer,
    /// `csrf-bad-referer`: a Referer that is neither the host nor trusted.
    CsrfBadReferer,
    /// `websocket-bad-origin`: an upgrade handshake (WebSocket) from an Origin that is
    /// neither the request's own nor an allowed CORS origin (or `null`, or several).
    WebsocketBadOrigin,
    /// `websocket-cross-site`: an upgrade handshake without Origin but with
    /// `Sec-Fetch-Site: cross-site`.
    WebsocketCrossSite,
    /// `fetch-metadata-cross-site`: `Sec-Fetch-Site: cross-site` on a request that is
    /// not a `GET` navigation to a document, from an Origin the policy does not allow.
    FetchMetadataCrossSite,
}

impl RejectionKind {
    /// The check that rejects with this kind.
    pub fn check(self) -> Check {
        match self {
            RejectionKind::HostNotAllowed
            | RejectionKind::HostMalformed
            | RejectionKind::HostDuplicate
            | RejectionKind::HostConflict
            | RejectionKind::HostMissing => Check::Host,
            RejectionKind::CsrfBadOrigin
            | RejectionKind::CsrfCrossSite
            | RejectionKind::CsrfNoReferer
            | RejectionKind::CsrfMalformedReferer
            | RejectionKind::CsrfInsecureReferer
            | RejectionKind::CsrfBadReferer => Check::Csrf,
            RejectionKind::WebsocketBadOrigin | RejectionKind::WebsocketCrossSite => {
                Check::Websocket
            }
            RejectionKind::FetchMetadataCrossSite => Check::FetchMetadata,
        }
    }

    /// The stable kebab-case code, e.g. `host-not-allowed`, `csrf-bad-origin`.
    pub fn code(self) -> &'static str {
        match self {
            RejectionKind::HostNotAllowed => "host-not-allowed",
            RejectionKind::HostMalformed => "host-malformed",
            RejectionKind::HostDuplicate => "host-duplicate",
            RejectionKind::HostConflict => "host-conflict",
            RejectionKind::HostMissing => "host-missing",
            RejectionKind::CsrfBadOrigin => "csrf-bad-origin",
            RejectionKind::CsrfCrossSite => "csrf-cross-site",
            RejectionKind::CsrfNoReferer => "csrf-no-referer",
            RejectionKind::CsrfMalformedReferer => "csrf-malformed-referer",
            RejectionKind::CsrfInsecureReferer => "csrf-insecure-referer",
            RejectionKind::CsrfBadReferer => "csrf-bad-referer",
            RejectionKind::WebsocketBadOrigin => "websocket-bad-origin",
            RejectionKind::WebsocketCrossSite => "websocket-cross-site",
            RejectionKind::FetchMetadataCrossSite => "fetch-metadata-cross-site",
        }
    }

    /// The response status: 403 for CSRF, WebSocket origins and Fetch Metadata, 400
    /// for the host.
    pub fn status(self) -> StatusCode {
        match self.check() {
            Check::Csrf | Check::Websocket | Check::FetchMetadata => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A rejected request: the kind, the reason and the fix. Attached to the rejection
/// response's extensions.
///
/// A rejection keeps its kind and the request text its reason quotes (at most one
/// allocation); the reason and fix texts are written only when asked for
/// ([`reason`](Rejection::reason), [`fix`](Rejection::fix), [`Display`](fmt::Display)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    kind: RejectionKind,
    detail: Detail,
}

/// What a rejection's reason and fix are made of.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Detail {
    /// Texts that quote nothing from the request.
    Fixed {
        reason: &'static str,
        fix: &'static str,
    },
    /// A well-formed host the policy does not list: the host as sent, then its
    /// domain; `internal_ip`: the domain is an address of an internal network while
    /// the policy is not in container mode.
    HostNotAllowed { host: Pair, internal_ip: bool },
    /// The Host header, then the request target's authority.
    HostConflict(Pair),
    /// A Host header that is not a valid host, as sent.
    HostMalformed(Box<str>),
    /// A foreign Origin (invalid UTF-8 replaced); `scheme`: it starts with a known
    /// scheme, so the fix can name it as a possible frontend.
    CsrfOrigin { origin: Box<str>, scheme: bool },
    /// A foreign Referer (invalid UTF-8 replaced), then its `https://` origin.
    CsrfReferer(Pair),
    /// A foreign handshake Origin (invalid UTF-8 replaced).
    WebsocketOrigin(Box<str>),
}

/// Two strings in one allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pair {
    text: Box<str>,
    split: usize,
}

impl Pair {
    fn new(first: &str, second: &str) -> Pair {
        let mut text = String::with_capacity(first.len() + second.len());
        text.push_str(first);
        text.push_str(second);
        Pair {
            text: text.into_boxed_str(),
            split: first.len(),
        }
    }

    fn first(&self) -> &str {
        self.text.get(..self.split).unwrap_or_default()
    }

    fn second(&self) -> &str {
        self.text.get(self.split..).unwrap_or_default()
    }
}

/// Writes `s` as `{:?}` does, without the formatting machinery when nothing needs
/// escaping (printable ASCII other than `"` and `\\`, which `{:?}` writes as is).
fn write_quoted(f: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        f.write_char('"')?;
        f.write_str(s)?;
        f.write_char('"')
    } else {
        write!(f, "{s:?}")
    }
}

/// The fix for a cross-site request whose origin is `origin` (written `prefix` then
/// `origin`).
fn write_frontend_fix(f: &mut dyn fmt::Write, prefix: &str, origin: &str) -> fmt::Result {
    write!(
        f,
        "if {prefix}{origin} is your frontend, add it to security_domains; otherwise this is a cross-site request, or exempt the route (csrf_exempt_paths) for API-only endpoints"
    )
}

impl Rejection {
    /// A rejection whose reason and fix quote nothing from the request.
    pub(crate) fn fixed(kind: RejectionKind, reason: &'static str, fix: &'static str) -> Rejection {
        Rejection {
            kind,
            detail: Detail::Fixed { reason, fix },
        }
    }

    /// `host-not-allowed`: `raw` as sent, `domain` as matched; `internal_ip` when the
    /// domain is an internal address and the policy is not in container mode.
    pub(crate) fn host_not_allowed(raw: &str, domain: &str, internal_ip: bool) -> Rejection {
        Rejection {
            kind: RejectionKind::HostNotAllowed,
            detail: Detail::HostNotAllowed {
                host: Pair::new(raw, domain),
                internal_ip,
            },
        }
    }

    /// `host-conflict`: the Host header and the request target's authority.
    pub(crate) fn host_conflict(host: &str, authority: &str) -> Rejection {
        Rejection {
            kind: RejectionKind::HostConflict,
            detail: Detail::HostConflict(Pair::new(host, authority)),
        }
    }

    /// `host-malformed`: a Host header that is not a valid host.
    pub(crate) fn host_malformed(raw: &str) -> Rejection {
        Rejection {
            kind: RejectionKind::HostMalformed,
            detail: Detail::HostMalformed(raw.into()),
        }
    }

    /// `csrf-bad-origin`: a foreign Origin; `scheme` when it starts with a known scheme.
    pub(crate) fn csrf_origin(origin: &str, scheme: bool) -> Rejection {
        Rejection {
            kind: RejectionKind::CsrfBadOrigin,
            detail: Detail::CsrfOrigin {
                origin: origin.into(),
                scheme,
            },
        }
    }

    /// `csrf-bad-referer`: a foreign Referer and its (lowercased) netloc.
    pub(crate) fn csrf_referer(referer: &str, netloc: &str) -> Rejection {
        Rejection {
            kind: RejectionKind::CsrfBadReferer,
            detail: Detail::CsrfReferer(Pair::new(referer, netloc)),
        }
    }

    /// `websocket-bad-origin`: a foreign handshake Origin.
    pub(crate) fn websocket_origin(origin: &str) -> Rejection {
        Rejection {
            kind: RejectionKind::WebsocketBadOrigin,
            detail: Detail::WebsocketOrigin(origin.into()),
        }
    }

    /// Why, as a value.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The check that rejected.
    pub fn check(&self) -> Check {
        self.kind.check()
    }

    /// A stable kebab-case code, e.g. `host-not-allowed`, `csrf-bad-origin`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The response status (400 or 403).
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// Why (Django's wording where Django has one). Borrowed when the reason quotes
    /// nothing from the request, written on each call otherwise.
    pub fn reason(&self) -> Cow<'_, str> {
        match &self.detail {
            Detail::Fixed { reason, .. } => Cow::Borrowed(reason),
            _ => {
                let mut s = String::new();
                // Writing into a `String` cannot fail.
                let _ = self.write_reason(&mut s);
                Cow::Owned(s)
            }
        }
    }

    /// How to fix it, when the request was legitimate. Borrowed when the fix quotes
    /// nothing from the request, written on each call otherwise.
    pub fn fix(&self) -> Cow<'_, str> {
        match &self.detail {
            Detail::Fixed { fix, .. } => Cow::Borrowed(fix),
            _ => {
                let mut s = String::new();
                // Writing into a `String` cannot fail.
                let _ = self.write_fix(&mut s);
                Cow::Owned(s)
            }
        }
    }

    /// Writes the [`reason`](Rejection::reason) without allocating.
    ///
    /// # Errors
    /// When `f` fails.
    pub fn write_reason(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        match &self.detail {
            Detail::Fixed { reason, .. } => f.write_str(reason),
            Detail::HostNotAllowed { host, .. } => {
                f.write_str("Invalid HTTP_HOST header: ")?;
                write_quoted(f, host.first())
            }
            Detail::HostConflict(p) => {
                f.write_str("Host header ")?;
                write_quoted(f, p.first())?;
                f.write_str(" disagrees with the request target's authority ")?;
                write_quoted(f, p.second())
            }
            Detail::HostMalformed(raw) => {
                f.write_str("Invalid HTTP_HOST header: ")?;
                write_quoted(f, raw)?;
                f.write_str(". The domain name provided is not valid according to RFC 1034/1035.")
            }
            Detail::CsrfOrigin { origin, .. } => write!(
                f,
                "Origin checking failed - {origin} does not match any trusted origins."
            ),
            Detail::CsrfReferer(p) => write!(
                f,
                "Referer checking failed - {} does not match any trusted origins.",
                p.first()
            ),
            Detail::WebsocketOrigin(origin) => write!(
                f,
                "WebSocket handshake refused - Origin {origin} is neither this site nor an allowed origin."
            ),
        }
    }

    /// Writes the [`fix`](Rejection::fix) without allocating.
    ///
    /// # Errors
    /// When `f` fails.
    pub fn write_fix(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        match &self.detail {
            Detail::Fixed { fix, .. } => f.write_str(fix),
            Detail::HostNotAllowed {
                host,
                internal_ip: true,
            } => write!(
                f,
                "health checks by internal IP: export DOCKER=true (or set `docker: true`) so internal networks are allowed, or add `health_check_paths`; otherwise add {} to security_domains",
                host.second()
            ),
            Detail::HostNotAllowed { host, .. } => {
                write!(f, "add {} to security_domains", host.second())
            }
            Detail::HostConflict(_) => f.write_str(
                "send the same host in the request line (or :authority) and the Host header",
            ),
            Detail::HostMalformed(_) => f.write_str(
                "send a Host header of letters, digits, dots, hyphens and an optional port",
            ),
            Detail::CsrfOrigin {
                origin,
                scheme: true,
            } => write_frontend_fix(f, "", origin),
            Detail::CsrfOrigin { .. } => {
                f.write_str("send requests from a page served by an allowed origin")
            }
            Detail::CsrfReferer(p) => write_frontend_fix(f, "https://", p.second()),
            Detail::WebsocketOrigin(_) => f.write_str(WEBSOCKET_FOREIGN_FIX),
        }
    }
}

/// The fix of a handshake from a foreign origin.
pub(crate) const WEBSOCKET_FOREIGN_FIX: &str = "if the page opening the WebSocket is your frontend, add its origin to security_domains; otherwise this is a cross-site WebSocket hijacking attempt";

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): ", self.status(), self.code())?;
        self.write_reason(f)
    }
}

impl std::error::Error for Rejection {}
