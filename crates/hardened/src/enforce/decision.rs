//! The verdict on one request: [`Decision`], [`Rejection`] and what the layer attaches
//! to responses ([`Verdict`]).

use http::header::HeaderValue;

pub(crate) use super::rejection::WEBSOCKET_FOREIGN_FIX;
pub use super::rejection::{Check, Rejection, RejectionKind};

/// Which checks a layer applies. Start from [`Checks::ALL`] or [`Checks::NONE`] and
/// switch single checks with the `with_*` methods:
///
/// ```
/// use hardened::Checks;
///
/// let checks = Checks::ALL.with_csrf(false);
/// assert!(checks.host() && !checks.csrf());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::struct_excessive_bools)]
pub struct Checks {
    host: bool,
    tls: bool,
    cors: bool,
    csrf: bool,
    headers: bool,
    cookies: bool,
    websocket: bool,
    fetch_metadata: bool,
}

impl Checks {
    /// Every check.
    pub const ALL: Checks = Checks {
        host: true,
        tls: true,
        cors: true,
        csrf: true,
        headers: true,
        cookies: true,
        websocket: true,
        fetch_metadata: true,
    };
    /// No check.
    pub const NONE: Checks = Checks {
        host: false,
        tls: false,
        cors: false,
        csrf: false,
        headers: false,
        cookies: false,
        websocket: false,
        fetch_metadata: false,
    };

    /// With or without Host header validation.
    #[must_use]
    pub const fn with_host(self, on: bool) -> Checks {
        Checks { host: on, ..self }
    }

    /// With or without the TLS redirect and HSTS.
    #[must_use]
    pub const fn with_tls(self, on: bool) -> Checks {
        Checks { tls: on, ..self }
    }

    /// With or without CORS headers and preflight answers.
    #[must_use]
    pub const fn with_cors(self, on: bool) -> Checks {
        Checks { cors: on, ..self }
    }

    /// With or without the CSRF origin/referer check.
    #[must_use]
    pub const fn with_csrf(self, on: bool) -> Checks {
        Checks { csrf: on, ..self }
    }

    /// With or without the security response headers.
    #[must_use]
    pub const fn with_headers(self, on: bool) -> Checks {
        Checks {
            headers: on,
            ..self
        }
    }

    /// With or without cookie hardening.
    #[must_use]
    pub const fn with_cookies(self, on: bool) -> Checks {
        Checks {
            cookies: on,
            ..self
        }
    }

    /// With or without the Origin check of WebSocket (and other upgrade) handshakes.
    #[must_use]
    pub const fn with_websocket(self, on: bool) -> Checks {
        Checks {
            websocket: on,
            ..self
        }
    }

    /// With or without the resource isolation policy on `Sec-Fetch-*` headers
    /// (`fetch_metadata`).
    #[must_use]
    pub const fn with_fetch_metadata(self, on: bool) -> Checks {
        Checks {
            fetch_metadata: on,
            ..self
        }
    }

    /// The resource isolation policy on `Sec-Fetch-*` headers.
    pub const fn fetch_metadata(self) -> bool {
        self.fetch_metadata
    }

    /// Host header validation.
    pub const fn host(self) -> bool {
        self.host
    }

    /// TLS redirect and HSTS.
    pub const fn tls(self) -> bool {
        self.tls
    }

    /// CORS headers and preflight.
    pub const fn cors(self) -> bool {
        self.cors
    }

    /// CSRF origin/referer check.
    pub const fn csrf(self) -> bool {
        self.csrf
    }

    /// Security response headers.
    pub const fn headers(self) -> bool {
        self.headers
    }

    /// Cookie hardening.
    pub const fn cookies(self) -> bool {
        self.cookies
    }

    /// The Origin check of WebSocket (and other upgrade) handshakes.
    pub const fn websocket(self) -> bool {
        self.websocket
    }
}

/// What the policy finds of a request's client, once per request (see
/// [`Security::client`](crate::Security::client)): read by every check and by a proxy
/// behind the layer, never computed again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    pub(crate) peer: Option<std::net::IpAddr>,
    pub(crate) trusted_proxy: bool,
    pub(crate) secure: bool,
}

impl Client {
    /// The peer's address ([`PeerAddr`](crate::PeerAddr), or axum's `ConnectInfo`).
    pub fn peer(&self) -> Option<std::net::IpAddr> {
        self.peer
    }

    /// Whether the peer is a trusted proxy, whose forwarded headers are believed.
    pub fn trusted_proxy(&self) -> bool {
        self.trusted_proxy
    }

    /// Whether the request is secure (TLS here, or https from a trusted proxy).
    pub fn secure(&self) -> bool {
        self.secure
    }
}

/// What the response needs to know about the request, whether the service answers it
/// or the layer does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub(crate) secure: bool,
    pub(crate) client: Client,
    pub(crate) cors_origin: Option<HeaderValue>,
    pub(crate) options: bool,
    pub(crate) grpc: bool,
    pub(crate) checks: Checks,
    pub(crate) nonce: Option<super::headers::CspNonce>,
    /// What report-only checks would have answered (empty, unallocated, when none).
    pub(crate) reported: Vec<Answer>,
    /// The request's route, when one matched (or a route layer marked it).
    pub(crate) route: Option<super::routes::RouteMark>,
}

impl Facts {
    /// The request is secure (TLS, or `X-Forwarded-Proto: https` from a trusted proxy).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// What the policy found of the request's client.
    pub fn client(&self) -> Client {
        self.client
    }

    /// The `Origin` to echo in `Access-Control-Allow-Origin`, when allowed.
    pub fn cors_origin(&self) -> Option<&HeaderValue> {
        self.cors_origin.as_ref()
    }

    /// The request is an `OPTIONS` request (CORS adds allow-headers/methods).
    pub fn is_options(&self) -> bool {
        self.options
    }

    /// The request is gRPC: a rejection is answered as a gRPC status (`grpc-status` 3
    /// for host problems, 7 for CSRF) so clients see the reason.
    pub fn is_grpc(&self) -> bool {
        self.grpc
    }

    /// The checks the decision applied; the response work follows them.
    pub fn checks(&self) -> Checks {
        self.checks
    }

    /// The CSP nonce of this response, when the policy's CSP has a `{nonce}`
    /// placeholder and the service drew one.
    pub fn csp_nonce(&self) -> Option<&super::headers::CspNonce> {
        self.nonce.as_ref()
    }

    /// What report-only checks would have answered instead of passing the request
    /// (a rejection, or the TLS redirect). Logged by the service.
    pub fn reported(&self) -> &[Answer] {
        &self.reported
    }

    /// The request's route, when one matched: its overrides shape the response.
    pub fn route(&self) -> Option<&super::routes::RouteMark> {
        self.route.as_ref()
    }

    /// The mark a route layer inside the security layer handed back with the
    /// response: the route's headers and CORS shape the response, unless the request
    /// already had a route.
    pub(crate) fn take_response_mark(&mut self, mark: crate::route::ResponseMark) {
        if self.route.is_some() {
            return;
        }
        if mark.route.0.cors.is_some() {
            self.cors_origin = mark.cors_origin;
        }
        if mark.nonce.is_some() {
            self.nonce = mark.nonce;
        }
        self.route = Some(mark.route);
    }

    /// Sets the CSP nonce the response's CSP header carries.
    pub fn set_csp_nonce(&mut self, nonce: super::headers::CspNonce) {
        self.nonce = Some(nonce);
    }
}

/// Attached to the response of a request that report-only checks let through: what
/// they would have answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reported(pub(crate) Vec<Answer>);

impl Reported {
    /// The answers the report-only checks would have given, in pipeline order.
    pub fn answers(&self) -> &[Answer] {
        &self.0
    }
}

/// An answer the layer gives without calling the service.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// An error: 400 or 403 (a gRPC status for gRPC requests). The response carries
    /// HSTS when the request was secure and, for CSRF rejections, the CORS headers of
    /// an allowed origin (so a frontend can read the error, as with
    /// django-cors-headers).
    Reject(Rejection),
    /// `301 Moved Permanently` to this https URL.
    Redirect(HeaderValue),
    /// A CORS preflight answer; with the CORS headers when the origin is allowed.
    Preflight,
}

/// The verdict on one request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Pass to the service; post-process its response with these facts.
    Pass(Facts),
    /// Answer here.
    Answer(Answer, Facts),
}

impl Decision {
    /// Whether the request passes to the service.
    pub fn is_pass(&self) -> bool {
        matches!(self, Decision::Pass(_))
    }

    /// The facts the response is built with.
    pub fn facts(&self) -> &Facts {
        match self {
            Decision::Pass(f) | Decision::Answer(_, f) => f,
        }
    }

    /// The facts the response is built with, mutably (to set the CSP nonce).
    pub fn facts_mut(&mut self) -> &mut Facts {
        match self {
            Decision::Pass(f) | Decision::Answer(_, f) => f,
        }
    }

    /// The layer's own answer, when the request does not pass.
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Decision::Pass(_) => None,
            Decision::Answer(a, _) => Some(a),
        }
    }

    /// The rejection, when the request is rejected.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self.answer() {
            Some(Answer::Reject(r)) => Some(r),
            _ => None,
        }
    }

    /// The verdict the response will carry.
    pub fn verdict(&self) -> Verdict {
        match self {
            Decision::Pass(_) => Verdict::Allowed,
            Decision::Answer(Answer::Reject(_), _) => Verdict::Rejected,
            Decision::Answer(Answer::Redirect(_), _) => Verdict::Redirect,
            Decision::Answer(Answer::Preflight, _) => Verdict::Preflight,
        }
    }
}

/// What the layer did with a request, attached to the extensions of every response
/// the layer answers itself (with the [`Rejection`] on rejections). A response of the
/// inner service carries none (attaching one would allocate an extensions map on every
/// allowed response): its verdict is [`Verdict::Allowed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// The request reached the service.
    Allowed,
    /// The layer answered a CORS preflight.
    Preflight,
    /// The layer redirected to https.
    Redirect,
    /// The layer rejected the request.
    Rejected,
}

impl Verdict {
    /// The verdict of a response that went through the layer: its extension, or
    /// [`Verdict::Allowed`] when the inner service answered.
    pub fn of<B>(resp: &http::Response<B>) -> Verdict {
        resp.extensions()
            .get::<Verdict>()
            .copied()
            .unwrap_or(Verdict::Allowed)
    }

    /// `allow`, `preflight`, `redirect` or `reject`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allow",
            Verdict::Preflight => "preflight",
            Verdict::Redirect => "redirect",
            Verdict::Rejected => "reject",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn kinds_have_their_codes_checks_and_statuses() {
        let cases: &[(RejectionKind, &str, Check, u16)] = &[
            (
                RejectionKind::HostNotAllowed,
                "host-not-allowed",
                Check::Host,
                400,
            ),
            (
                RejectionKind::HostMalformed,
                "host-malformed",
                Check::Host,
                400,
            ),
            (
                RejectionKind::HostDuplicate,
                "host-duplicate",
                Check::Host,
                400,
            ),
            (
                RejectionKind::HostConflict,
                "host-conflict",
                Check::Host,
                400,
            ),
            (RejectionKind::HostMissing, "host-missing", Check::Host, 400),
            (
                RejectionKind::CsrfBadOrigin,
                "csrf-bad-origin",
                Check::Csrf,
                403,
            ),
            (
                RejectionKind::CsrfCrossSite,
                "csrf-cross-site",
                Check::Csrf,
                403,
            ),
            (
                RejectionKind::CsrfNoReferer,
                "csrf-no-referer",
                Check::Csrf,
                403,
            ),
            (
                RejectionKind::CsrfMalformedReferer,
                "csrf-malformed-referer",
                Check::Csrf,
                403,
            ),
            (
                RejectionKind::CsrfInsecureReferer,
                "csrf-insecure-referer",
                Check::Csrf,
                403,
            ),
            (
                RejectionKind::CsrfBadReferer,
                "csrf-bad-referer",
                Check::Csrf,
                403,
            ),
            (
                RejectionKind::FetchMetadataCrossSite,
                "fetch-metadata-cross-site",
                Check::FetchMetadata,
                403,
            ),
        ];
        for (kind, code, check, status) in cases {
            assert_eq!(
                (kind.code(), kind.check(), kind.status().as_u16()),
                (*code, *check, *status)
            );
        }
    }

    /// The texts a rejection writes lazily are the ones it used to format up front.
    #[test]
    fn rejection_texts() {
        let long_fix = "if https://evil.example is your frontend, add it to security_domains; otherwise this is a cross-site request, or exempt the route (csrf_exempt_paths) for API-only endpoints";
        let cases: &[(Rejection, &str, &str)] = &[
            (
                Rejection::host_not_allowed("Evil.com:80", "evil.com", false),
                "Invalid HTTP_HOST header: \"Evil.com:80\"",
                "add evil.com to security_domains",
            ),
            (
                Rejection::host_not_allowed("10.0.0.5", "10.0.0.5", true),
                "Invalid HTTP_HOST header: \"10.0.0.5\"",
                "health checks by internal IP: export DOCKER=true (or set `docker: true`) so internal networks are allowed, or add `health_check_paths`; otherwise add 10.0.0.5 to security_domains",
            ),
            (
                Rejection::host_not_allowed("a\"b\\c\td\u{e9}", "x", false),
                "Invalid HTTP_HOST header: \"a\\\"b\\\\c\\td\u{e9}\"",
                "add x to security_domains",
            ),
            (
                Rejection::host_conflict("a.com", "b.com"),
                "Host header \"a.com\" disagrees with the request target's authority \"b.com\"",
                "send the same host in the request line (or :authority) and the Host header",
            ),
            (
                Rejection::host_malformed("a b"),
                "Invalid HTTP_HOST header: \"a b\". The domain name provided is not valid according to RFC 1034/1035.",
                "send a Host header of letters, digits, dots, hyphens and an optional port",
            ),
            (
                Rejection::csrf_origin("https://evil.example", true),
                "Origin checking failed - https://evil.example does not match any trusted origins.",
                long_fix,
            ),
            (
                Rejection::csrf_origin("null", false),
                "Origin checking failed - null does not match any trusted origins.",
                "send requests from a page served by an allowed origin",
            ),
            (
                Rejection::csrf_referer("https://Evil.example/form", "evil.example"),
                "Referer checking failed - https://Evil.example/form does not match any trusted origins.",
                long_fix,
            ),
            (
                Rejection::websocket_origin("https://evil.example"),
                "WebSocket handshake refused - Origin https://evil.example is neither this site nor an allowed origin.",
                WEBSOCKET_FOREIGN_FIX,
            ),
            (
                Rejection::fixed(
                    RejectionKind::HostMissing,
                    "Missing Host header",
                    "send a Host header",
                ),
                "Missing Host header",
                "send a Host header",
            ),
        ];
        for (r, reason, fix) in cases {
            assert_eq!((r.reason().as_ref(), r.fix().as_ref()), (*reason, *fix));
            assert_eq!(
                r.to_string(),
                format!("{} ({}): {reason}", r.status(), r.code())
            );
        }
        let fixed = Rejection::fixed(RejectionKind::HostDuplicate, "a", "b");
        assert!(matches!(fixed.reason(), Cow::Borrowed("a")));
        assert!(matches!(fixed.fix(), Cow::Borrowed("b")));
    }

    #[test]
    fn checks_builders() {
        assert!(Checks::NONE.with_host(true).host());
        assert!(!Checks::ALL.with_tls(false).tls());
        let c = Checks::NONE
            .with_host(true)
            .with_tls(true)
            .with_cors(true)
            .with_csrf(true)
            .with_headers(true)
            .with_cookies(true)
            .with_websocket(true)
            .with_fetch_metadata(true);
        assert_eq!(c, Checks::ALL);
    }
}
