//! The tower [`Layer`] and [`Service`] that enforce a [`Security`] policy: the one
//! place the policy runs, for an application as for the gateway.
//!
//! Hand-written future and body (no boxing), as tower-http does: the decision is a
//! synchronous function of the request head; only allowed requests reach the inner
//! service, whose response is post-processed in place. The service logs rejections
//! (`request rejected`, at `warn`); the decision itself is pure.
//!
//! A server that records its requests (metrics, access logs, request ids) plugs an
//! [`Observer`] into the layer instead of wrapping the policy in a second copy of it,
//! and a server that reloads its configuration gives the layer a [`PolicySource`].
//! Each request then runs: the policy in force ([`PolicySource::current`]) → its
//! [`Client`] (peer, trusted proxy, secure), computed once → [`Observer::request`] →
//! the decision → [`Record::decided`] → the inner service or the layer's own answer
//! → [`Record::response`] → the body, counted by [`Record::data`] → the record
//! dropped when the body is done.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::enforce::{Answer, Checks, Client, CspNonce, Decision, Facts, Reported, Security};

/// Where a [`SecurityService`] takes the policy of each request from: a fixed
/// [`Security`], or one a server swaps while it runs (a configuration reload). The
/// policy read when a request's head arrives serves that request to its end.
pub trait PolicySource: Clone + Send + Sync + 'static {
    /// The policy in force now.
    fn current(&self) -> Security;
}

impl PolicySource for Security {
    fn current(&self) -> Security {
        self.clone()
    }
}

/// What a server records of each request, besides the policy's own work: called by
/// the [`SecurityService`] at fixed points of the one enforcement path (see the
/// [module docs](self)). `()` records nothing.
pub trait Observer: Clone + Send + Sync + 'static {
    /// What is kept of one request until its response body is done (sent, or dropped
    /// when the client left); dropped then.
    type Record: Record;

    /// A request arrived, under `security`, from `client`; `parts` may still be
    /// changed (a request id set) before the decision.
    fn request(
        &self,
        parts: &mut http::request::Parts,
        security: &Security,
        client: &Client,
    ) -> Self::Record;
}

/// One request's record (see [`Observer`]).
pub trait Record: Send + 'static {
    /// The policy decided on the request. On [`Decision::Pass`], `parts` is what the
    /// inner service will get.
    fn decided(
        &mut self,
        _parts: &mut http::request::Parts,
        _security: &Security,
        _decision: &Decision,
    ) {
    }

    /// The response head, the inner service's or the layer's own, after the policy's
    /// response work, as it leaves.
    fn response(&mut self, _head: &mut http::response::Parts) {}

    /// `bytes` of response body left.
    fn data(&mut self, _bytes: usize) {}

    /// The request id for the rejection log line, if the record has one.
    fn request_id(&self) -> Option<&[u8]> {
        None
    }
}

impl Observer for () {
    type Record = ();

    fn request(&self, _: &mut http::request::Parts, _: &Security, _: &Client) {}
}

impl Record for () {}

/// The request side of the service: the once-only warning about a forwarded header
/// without a peer address, the decision, the CSP nonce when the policy asks for one
/// (in the facts and in `parts`' extensions, as [`CspNonce`]), and the log of what
/// report-only checks would have answered.
fn admit(
    security: &Security,
    parts: &mut http::request::Parts,
    checks: Checks,
    client: Client,
    https_port: Option<u16>,
) -> Decision {
    if security.first_missing_peer(parts, &client) {
        tracing::warn!(
            header = "X-Forwarded-Proto",
            fix = "serve with `app.into_make_service_with_connect_info::<SocketAddr>()` (axum, with hardened's `axum` feature) or insert `hardened::PeerAddr` into request extensions",
            "a request carries X-Forwarded-Proto but the server gives no peer address: the header is never believed, so HSTS is never sent and ssl_redirect: true redirects every request to itself; logged once"
        );
    }
    let mut decision = security.decide_for(parts, checks, client, https_port);
    if checks.headers() && security.needs_csp_nonce_for(decision.facts()) {
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

impl Security {
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

/// Applies a [`Security`] policy to a service. Build it with [`Security::layer`]; a
/// server that swaps policies or records requests sets a [`PolicySource`] and an
/// [`Observer`].
#[derive(Clone, Debug)]
#[must_use]
pub struct SecurityLayer<P = Security, O = ()> {
    policy: P,
    checks: Checks,
    observer: O,
    https_port: Option<u16>,
}

impl SecurityLayer {
    /// A layer applying `checks` of `security`.
    pub fn new(security: Security, checks: Checks) -> SecurityLayer {
        SecurityLayer {
            policy: security,
            checks,
            observer: (),
            https_port: None,
        }
    }
}

impl<P, O> SecurityLayer<P, O> {
    /// Takes each request's policy from `policy` (e.g. one a reload replaces).
    pub fn with_policy<P2: PolicySource>(self, policy: P2) -> SecurityLayer<P2, O> {
        SecurityLayer {
            policy,
            checks: self.checks,
            observer: self.observer,
            https_port: self.https_port,
        }
    }

    /// Reports each request to `observer`.
    pub fn with_observer<O2: Observer>(self, observer: O2) -> SecurityLayer<P, O2> {
        SecurityLayer {
            policy: self.policy,
            checks: self.checks,
            observer,
            https_port: self.https_port,
        }
    }

    /// The port of this server's own https listener: the TLS redirect points there
    /// (without a port for 443) instead of keeping the request's port.
    pub fn with_https_port(mut self, port: Option<u16>) -> Self {
        self.https_port = port;
        self
    }
}

impl<S, P: Clone, O: Clone> Layer<S> for SecurityLayer<P, O> {
    type Service = SecurityService<S, P, O>;

    fn layer(&self, inner: S) -> SecurityService<S, P, O> {
        SecurityService {
            inner,
            policy: self.policy.clone(),
            checks: self.checks,
            observer: self.observer.clone(),
            https_port: self.https_port,
        }
    }
}

/// The service built by [`SecurityLayer`].
#[derive(Clone, Debug)]
#[must_use]
pub struct SecurityService<S, P = Security, O = ()> {
    inner: S,
    policy: P,
    checks: Checks,
    observer: O,
    https_port: Option<u16>,
}

impl<S, P, O> SecurityService<S, P, O> {
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

impl<S, P, O, ReqBody, ResBody> Service<Request<ReqBody>> for SecurityService<S, P, O>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes>,
    P: PolicySource,
    O: Observer,
{
    type Response = Response<SecurityBody<ResBody, O::Record>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, O::Record>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let security = self.policy.current();
        let (mut parts, body) = req.into_parts();
        let client = security.client(&parts);
        let mut record = self.observer.request(&mut parts, &security, &client);
        let decision = admit(&security, &mut parts, self.checks, client, self.https_port);
        record.decided(&mut parts, &security, &decision);
        match decision {
            Decision::Pass(facts) => {
                if security.has_route_layers() {
                    parts.extensions.insert(crate::route::Decided(client));
                }
                let fut = self.inner.call(Request::from_parts(parts, body));
                ResponseFuture {
                    state: State::Inner {
                        fut,
                        post: Some((security, facts)),
                    },
                    record: Some(record),
                }
            }
            decision => {
                if let Some(r) = decision.rejection() {
                    log_rejection(r, &parts, &client, record.request_id());
                }
                ResponseFuture {
                    state: State::Ready {
                        resp: security.respond(decision),
                    },
                    record: Some(record),
                }
            }
        }
    }
}

/// Logs a rejection with what an operator needs to find and fix it. Every field that
/// carries request text is escaped (controls, bidi and invisible characters), so a
/// line can be neither forged nor reordered.
pub(crate) fn log_rejection(
    r: &crate::Rejection,
    parts: &http::request::Parts,
    client: &Client,
    request_id: Option<&[u8]>,
) {
    let header = |name| parts.headers.get(name).map(|v| v.as_bytes());
    let host = header(http::header::HOST)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().as_bytes()))
        .unwrap_or_default();
    tracing::warn!(
        check = r.check().as_str(),
        code = r.code(),
        reason = %Escaped(r.reason().as_bytes()),
        fix = %Escaped(r.fix().as_bytes()),
        method = %parts.method,
        host = %Escaped(host),
        path = %Escaped(parts.uri.path().as_bytes()),
        origin = %Escaped(header(http::header::ORIGIN).unwrap_or_default()),
        peer = %client.peer().map(|p| p.to_string()).unwrap_or_default(),
        request_id = %Escaped(request_id.unwrap_or_default()),
        "request rejected"
    );
}

/// Logs what a report-only check would have answered (the request goes on unchanged).
pub(crate) fn log_reported(answer: &Answer, parts: &http::request::Parts) {
    match answer {
        Answer::Reject(r) => tracing::warn!(
            check = r.check().as_str(),
            code = r.code(),
            method = %parts.method,
            path = %Escaped(parts.uri.path().as_bytes()),
            origin = %Escaped(parts.headers.get(http::header::ORIGIN).map_or(&b""[..], |v| v.as_bytes())),
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
    pub struct ResponseFuture<F, R = ()> {
        #[pin]
        state: State<F>,
        record: Option<R>,
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

impl<F, B, E, R> Future for ResponseFuture<F, R>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes>,
    R: Record,
{
    type Output = Result<Response<SecurityBody<B, R>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.state.project() {
            StateProj::Inner { fut, post } => {
                let resp = match fut.poll(cx) {
                    Poll::Ready(r) => r?,
                    Poll::Pending => return Poll::Pending,
                };
                let (mut head, body) = resp.into_parts();
                if let Some((security, mut facts)) = post.take() {
                    if let Some(mark) = head.extensions.remove::<crate::route::ResponseMark>() {
                        facts.take_response_mark(mark);
                    }
                    security.finish(&mut head.headers, &facts);
                    if !facts.reported.is_empty() {
                        head.extensions.insert(Reported(facts.reported));
                    }
                }
                let mut record = this.record.take();
                if let Some(r) = &mut record {
                    r.response(&mut head);
                }
                Poll::Ready(Ok(Response::from_parts(
                    head,
                    SecurityBody::inner(body, record),
                )))
            }
            StateProj::Ready { resp } => {
                let (mut head, data) = resp.take().unwrap_or_default().into_parts();
                let mut record = this.record.take();
                if let Some(r) = &mut record {
                    r.response(&mut head);
                }
                Poll::Ready(Ok(Response::from_parts(
                    head,
                    SecurityBody::full(data, record),
                )))
            }
        }
    }
}

pin_project! {
    /// The response body: the inner service's, or the layer's own short body
    /// (rejections, redirects, preflights); its bytes are told to the observer's
    /// record, which is dropped when the body is.
    pub struct SecurityBody<B, R = ()> {
        #[pin]
        kind: Kind<B>,
        record: Option<R>,
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

impl<B, R> SecurityBody<B, R> {
    fn inner(body: B, record: Option<R>) -> Self {
        SecurityBody {
            kind: Kind::Inner { body },
            record,
        }
    }

    fn full(data: Bytes, record: Option<R>) -> Self {
        SecurityBody {
            kind: Kind::Full { data: Some(data) },
            record,
        }
    }
}

impl<B, R> Body for SecurityBody<B, R>
where
    B: Body<Data = Bytes>,
    R: Record,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let polled = match this.kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Full { data } => Poll::Ready(
                data.take()
                    .filter(|d| !d.is_empty())
                    .map(|d| Ok(Frame::data(d))),
            ),
        };
        if let (Some(r), Poll::Ready(Some(Ok(frame)))) = (this.record.as_mut(), &polled)
            && let Some(d) = frame.data_ref()
        {
            r.data(d.len());
        }
        polled
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
