//! The tower [`Layer`] and [`Service`] that enforce a [`Security`] policy.
//!
//! Hand-written future and body (no boxing), as tower-http does: the decision is a
//! synchronous function of the request head ([`Security::decide_with`]); only allowed
//! requests reach the inner service, whose response is post-processed in place. The
//! service logs rejections (`request rejected`, at `warn`); the decision itself is pure.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::enforce::{Answer, Checks, CspNonce, Decision, Facts, Reported, Security};

impl Security {
    /// The request side of the layer, for servers that drive the policy themselves (a
    /// gateway adding metrics or swapping policies): the once-only warning about a
    /// forwarded header without a peer address, the decision with `checks`, the CSP
    /// nonce when the policy asks for one (in the facts and in `parts`' extensions, as
    /// [`CspNonce`]), and the log of what report-only checks would have answered.
    /// Rejections are left for the caller to log. [`SecurityService`] is this, the
    /// rejection log, the inner service and [`Security::finish`].
    pub fn admit(&self, parts: &mut http::request::Parts, checks: Checks) -> Decision {
        if self.first_missing_peer(parts) {
            tracing::warn!(
                header = "X-Forwarded-Proto",
                fix = "serve with `app.into_make_service_with_connect_info::<SocketAddr>()` (axum, with hardened's `axum` feature) or insert `hardened::PeerAddr` into request extensions",
                "a request carries X-Forwarded-Proto but the server gives no peer address: the header is never believed, so HSTS is never sent and ssl_redirect: true redirects every request to itself; logged once"
            );
        }
        let mut decision = self.decide_with(parts, checks);
        if checks.headers() && self.needs_csp_nonce() {
            // Drawn only when the CSP asks for one; handlers read it from extensions.
            let nonce = CspNonce::generate();
            decision.facts_mut().set_csp_nonce(nonce);
            parts.extensions.insert(nonce);
        }
        if let Decision::Pass(facts) = &decision {
            for answer in facts.reported() {
                log_reported(answer, parts);
            }
        }
        decision
    }

    /// The tower layer applying every check, in order: host, TLS redirect, CORS
    /// (preflight answered here), the Origin of WebSocket handshakes, CSRF; then security
    /// headers, HSTS and cookie hardening on the way out.
    pub fn layer(&self) -> SecurityLayer {
        SecurityLayer::new(self.clone(), Checks::ALL)
    }

    /// A layer applying only the given checks.
    pub fn layer_with(&self, checks: Checks) -> SecurityLayer {
        SecurityLayer::new(self.clone(), checks)
    }

    /// Only the host check.
    pub fn host_layer(&self) -> SecurityLayer {
        self.layer_with(Checks::NONE.with_host(true))
    }

    /// Only the TLS redirect and HSTS.
    pub fn tls_layer(&self) -> SecurityLayer {
        self.layer_with(Checks::NONE.with_tls(true))
    }

    /// Only CORS.
    pub fn cors_layer(&self) -> SecurityLayer {
        self.layer_with(Checks::NONE.with_cors(true))
    }

    /// Only the CSRF check.
    pub fn csrf_layer(&self) -> SecurityLayer {
        self.layer_with(Checks::NONE.with_csrf(true))
    }

    /// Only the security response headers.
    pub fn headers_layer(&self) -> SecurityLayer {
        self.layer_with(Checks::NONE.with_headers(true))
    }

    /// Only cookie hardening.
    pub fn cookies_layer(&self) -> SecurityLayer {
        self.layer_with(Checks::NONE.with_cookies(true))
    }

    /// Only the Origin check of WebSocket (and other upgrade) handshakes: a handshake
    /// from an Origin that is neither the request's own nor an allowed CORS origin gets
    /// 403 before the handler sees it.
    pub fn websocket_layer(&self) -> SecurityLayer {
        self.layer_with(Checks::NONE.with_websocket(true))
    }
}

/// Applies a [`Security`] policy to a service. Build it with [`Security::layer`].
#[derive(Clone, Debug)]
#[must_use]
pub struct SecurityLayer {
    security: Security,
    checks: Checks,
}

impl SecurityLayer {
    /// A layer applying `checks` of `security`.
    pub fn new(security: Security, checks: Checks) -> SecurityLayer {
        SecurityLayer { security, checks }
    }
}

impl<S> Layer<S> for SecurityLayer {
    type Service = SecurityService<S>;

    fn layer(&self, inner: S) -> SecurityService<S> {
        SecurityService {
            inner,
            security: self.security.clone(),
            checks: self.checks,
        }
    }
}

/// The service built by [`SecurityLayer`].
#[derive(Clone, Debug)]
#[must_use]
pub struct SecurityService<S> {
    inner: S,
    security: Security,
    checks: Checks,
}

impl<S> SecurityService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Compile-time proof that the layer and its service can be shared across threads.
const _: () = {
    const fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<SecurityLayer>();
    assert_send_sync_clone::<SecurityService<()>>();
};

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SecurityService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<SecurityBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let decision = self.security.admit(&mut parts, self.checks);
        match decision {
            Decision::Pass(facts) => {
                let fut = self.inner.call(Request::from_parts(parts, body));
                ResponseFuture {
                    state: State::Inner {
                        fut,
                        post: Some((self.security.clone(), facts)),
                    },
                }
            }
            decision => {
                if let Some(r) = decision.rejection() {
                    // Every field that carries request text is escaped: a log line must
                    // not be forged or reordered by control or bidi characters.
                    let header = |name| parts.headers.get(name).map(|v| v.as_bytes());
                    tracing::warn!(
                        check = r.check().as_str(),
                        code = r.code(),
                        method = %parts.method,
                        path = %Escaped(parts.uri.path().as_bytes()),
                        host = %Escaped(header(http::header::HOST).unwrap_or_default()),
                        origin = %Escaped(header(http::header::ORIGIN).unwrap_or_default()),
                        reason = %Escaped(r.reason().as_bytes()),
                        fix = %Escaped(r.fix().as_bytes()),
                        "request rejected"
                    );
                }
                ResponseFuture {
                    state: State::Ready {
                        resp: self.security.respond(decision),
                    },
                }
            }
        }
    }
}

/// Logs what a report-only check would have answered (the request goes on unchanged).
fn log_reported(answer: &Answer, parts: &http::request::Parts) {
    match answer {
        Answer::Reject(r) => tracing::warn!(
            check = r.check().as_str(),
            code = r.code(),
            method = %parts.method,
            path = %Escaped(parts.uri.path().as_bytes()),
            reason = %Escaped(r.reason().as_bytes()),
            fix = %Escaped(r.fix().as_bytes()),
            "report-only: request would be rejected"
        ),
        Answer::Redirect(location) => tracing::warn!(
            check = "tls",
            code = "tls-redirect",
            method = %parts.method,
            path = %Escaped(parts.uri.path().as_bytes()),
            reason = "plain HTTP would be redirected to https",
            location = ?location,
            fix = "serve the page over https, or check that the proxy's X-Forwarded-Proto reaches the service from a trusted peer",
            "report-only: request would be redirected"
        ),
        Answer::Preflight => {}
    }
}

pin_project! {
    /// The response future of [`SecurityService`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner {
            #[pin]
            fut: F,
            post: Option<(Security, Facts)>,
        },
        Ready {
            resp: Option<Response<Bytes>>,
        },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes>,
{
    type Output = Result<Response<SecurityBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { fut, post } => {
                let mut resp = match fut.poll(cx) {
                    Poll::Ready(r) => r?,
                    Poll::Pending => return Poll::Pending,
                };
                if let Some((security, facts)) = post.take() {
                    security.finish(resp.headers_mut(), &facts);
                    if !facts.reported.is_empty() {
                        resp.extensions_mut().insert(Reported(facts.reported));
                    }
                }
                Poll::Ready(Ok(resp.map(SecurityBody::inner)))
            }
            StateProj::Ready { resp } => {
                let resp = resp.take().unwrap_or_default();
                Poll::Ready(Ok(resp.map(SecurityBody::full)))
            }
        }
    }
}

pin_project! {
    /// The response body: the inner service's, or the layer's own short body
    /// (rejections, redirects, preflights).
    pub struct SecurityBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner {
            #[pin]
            body: B,
        },
        Full {
            data: Option<Bytes>,
        },
    }
}

impl<B> SecurityBody<B> {
    fn inner(body: B) -> Self {
        SecurityBody {
            kind: Kind::Inner { body },
        }
    }

    fn full(data: Bytes) -> Self {
        SecurityBody {
            kind: Kind::Full { data: Some(data) },
        }
    }
}

impl<B> Body for SecurityBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Full { data } => Poll::Ready(
                data.take()
                    .filter(|d| !d.is_empty())
                    .map(|d| Ok(Frame::data(d))),
            ),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Full { data } => data.as_ref().is_none_or(|d| d.is_empty()),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

/// Untrusted text for a log line: printable ASCII and ordinary non-ASCII characters as
/// they are; control characters (C0, DEL, C1 such as U+009B CSI), Unicode bidi and
/// other invisible format characters (U+202E, U+2066, ...), backslashes and invalid
/// UTF-8 escaped as `\u{..}` / `\x..`, so a terminal or log viewer shows exactly what
/// was sent and nothing can rewrite the line.
pub struct Escaped<'a>(pub &'a [u8]);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    ' '..='~' => f.write_char(c)?,
                    c if needs_escape(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                    c => f.write_char(c)?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Characters that must not reach a log raw: controls, and the invisible format
/// characters that reorder or hide text (bidi embeddings, overrides and isolates,
/// marks, zero-width characters, the BOM).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    #[test]
    fn escaped_table() {
        let cases: &[(&[u8], &str)] = &[
            (b"https://example.com", "https://example.com"),
            (b"a\nb\r", "a\\u{a}b\\u{d}"),
            (b"\x1b[31mred", "\\u{1b}[31mred"),
            ("csi\u{9b}31m".as_bytes(), "csi\\u{9b}31m"),
            (
                "evil\u{202e}moc.elpmaxe".as_bytes(),
                "evil\\u{202e}moc.elpmaxe",
            ),
            ("iso\u{2066}x\u{2069}".as_bytes(), "iso\\u{2066}x\\u{2069}"),
            ("caf\u{e9}".as_bytes(), "caf\u{e9}"),
            (b"back\\slash", "back\\\\slash"),
            (b"bad\xff\xfe", "bad\\xff\\xfe"),
        ];
        for (input, expected) in cases {
            assert_eq!(Escaped(input).to_string(), *expected, "{input:?}");
        }
    }
}
