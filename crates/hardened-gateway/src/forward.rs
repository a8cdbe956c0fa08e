//! Proxying one request the policy allowed: method and target checks, hop-by-hop and
//! forwarded-header scrubbing (see `scrub`), HTTP/2 cookie crumbs joined,
//! `X-Forwarded-For`/`-Proto`, the upstream URI (dot segments resolved inside the base
//! path, see `target`), the upstream connection of each client connection, and upstream
//! failures mapped to 502/504.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hardened::Security;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

use crate::{BoxBody, BoxError, GatewayOptions, Upstream, scrub, target};

/// The methods the gateway answers `Allow` with.
fn allow() -> HeaderValue {
    HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
}

/// The forwarding half of a gateway, shared by all its connections.
#[derive(Debug)]
pub(crate) struct Proxy {
    upstream: Upstream,
    upstream_timeout: Duration,
    connect_timeout: Duration,
    security: Security,
    /// HTTP/1.1 upgrades (WebSockets).
    tunnels: Arc<crate::websocket::Tunnels>,
}

/// The proxy for one client connection.
#[derive(Clone)]
pub(crate) struct ProxyService {
    proxy: Arc<Proxy>,
    /// This client connection's upstream connection: requests of one client connection
    /// reuse it in turn (no shared pool, no lock contention between clients).
    upstream: UpstreamSlot,
}

/// An idle upstream connection, taken while a request uses it.
type UpstreamSlot = Arc<Mutex<Option<http1::SendRequest<Incoming>>>>;

impl tower::Service<Request<Incoming>> for ProxyService {
    type Response = Response<BoxBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<BoxBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let proxy = self.proxy.clone();
        let slot = self.upstream.clone();
        Box::pin(async move { Ok(proxy.forward(req, &slot).await) })
    }
}

/// Why forwarding failed.
enum ForwardError {
    /// Connecting to the upstream failed.
    Connect(std::io::Error),
    /// The exchange with the upstream failed.
    Http(hyper::Error),
}

impl std::fmt::Display for ForwardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForwardError::Connect(e) => write!(f, "connect: {e}"),
            ForwardError::Http(e) => write!(f, "{e}"),
        }
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) never forwarded, as parsed names (no parsing
/// per request).
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in `Connection` are hop-by-hop too, except Host: a client must not
    // be able to make the gateway drop the Host it validated.
    if headers.contains_key(header::CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .filter_map(|t| HeaderName::from_bytes(t.trim_ascii()).ok())
            .filter(|n| *n != header::HOST)
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Joins an HTTP/2 client's cookie crumbs (one `cookie` field per cookie) into the one
/// `Cookie` line an HTTP/1.1 upstream expects, with `"; "` (RFC 9113 §8.2.3). WSGI
/// servers join repeated lines with `,`, which Django reads as one corrupted cookie.
/// Nothing is allocated unless there is more than one line.
fn join_cookies(headers: &mut HeaderMap) {
    let mut lines = headers.get_all(header::COOKIE).iter();
    if lines.next().is_none() || lines.next().is_none() {
        return;
    }
    let mut joined: Vec<u8> = Vec::new();
    for line in headers.get_all(header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(line.as_bytes());
    }
    // Joined valid values with "; " are a valid value.
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, v);
    }
}

/// Whether forwarding failed because the client's own request body was broken (a bad
/// chunk size, a truncated chunk): hyper reports the body stream's error as a "user"
/// error. That is the client's fault (400), not the upstream's (502).
fn client_body_failed(e: &ForwardError) -> bool {
    match e {
        ForwardError::Connect(_) => false,
        ForwardError::Http(h) => error_chain_has_user_error(h),
    }
}

fn error_chain_has_user_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper::Error>()
            && h.is_user()
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The gateway's own short answer: the status line, then `text`.
pub(crate) fn text_response(status: StatusCode, text: &str) -> Response<BoxBody> {
    let mut resp = Response::new(
        Full::new(Bytes::from(format!("{status}\n\n{text}\n")))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

impl Proxy {
    pub(crate) fn new(security: Security, upstream: Upstream, options: &GatewayOptions) -> Proxy {
        Proxy {
            upstream,
            upstream_timeout: options.upstream_timeout,
            connect_timeout: options.connect_timeout,
            security,
            tunnels: crate::websocket::Tunnels::new(options),
        }
    }

    pub(crate) fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    pub(crate) fn tunnels(&self) -> &Arc<crate::websocket::Tunnels> {
        &self.tunnels
    }

    /// The proxy for a new client connection (with no upstream connection yet).
    pub(crate) fn connection(self: &Arc<Self>) -> ProxyService {
        ProxyService {
            proxy: self.clone(),
            upstream: UpstreamSlot::default(),
        }
    }

    /// The origin-form target sent upstream: the client's path with its dot segments
    /// resolved (or why it is refused), under the upstream's base path, then the query.
    /// Nothing is re-parsed when there is no base path and nothing to resolve.
    fn upstream_uri(&self, target: &Uri) -> Result<Uri, &'static str> {
        const INVALID: &str = "invalid request target";
        let base = self.upstream.uri().path().trim_end_matches('/');
        let path = target::resolve(target.path()).map_err(target::Refused::message)?;
        let mut parts = http::uri::Parts::default();
        parts.path_and_query = match (base.is_empty(), &path) {
            (true, Cow::Borrowed(_)) => target.path_and_query().cloned(),
            _ => {
                let query = target.query().map_or(String::new(), |q| format!("?{q}"));
                Some(
                    format!("{base}{path}{query}")
                        .parse()
                        .map_err(|_| INVALID)?,
                )
            }
        };
        Uri::from_parts(parts).map_err(|_| INVALID)
    }

    /// A new upstream connection, driven by its own task.
    async fn connect(&self) -> Result<http1::SendRequest<Incoming>, ForwardError> {
        let stream = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::TcpStream::connect(self.upstream.addr()),
        )
        .await
        .map_err(|_| ForwardError::Connect(std::io::ErrorKind::TimedOut.into()))?
        .map_err(ForwardError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ForwardError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }

    /// Sends the request on this client connection's upstream connection (or a new
    /// one). A request the connection could not take (it closed while idle) is retried
    /// once on a fresh connection; a request already sent is never retried.
    async fn send(
        &self,
        slot: &UpstreamSlot,
        mut req: Request<Incoming>,
    ) -> Result<Response<Incoming>, ForwardError> {
        for attempt in 0..2 {
            let idle = slot.lock().ok().and_then(|mut s| s.take());
            let mut sender = match idle {
                Some(s) if !s.is_closed() => s,
                _ => self.connect().await?,
            };
            if sender.ready().await.is_err() {
                sender = self.connect().await?;
                sender.ready().await.map_err(ForwardError::Http)?;
            }
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    if let Ok(mut s) = slot.lock() {
                        *s = Some(sender);
                    }
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if attempt == 0 => req = unsent,
                    _ => return Err(ForwardError::Http(e.into_error())),
                },
            }
        }
        Err(ForwardError::Connect(
            std::io::ErrorKind::ConnectionReset.into(),
        ))
    }

    /// Forwards one request the policy allowed and returns the upstream's answer (or
    /// the gateway's own: 400, 405, 502, 504).
    async fn forward(&self, req: Request<Incoming>, slot: &UpstreamSlot) -> Response<BoxBody> {
        let (mut parts, body) = req.into_parts();
        // CONNECT would turn the gateway into an open tunnel; TRACE would echo the
        // request, cookies and credentials included, back to a script (cross-site
        // tracing), as nginx refuses to; `*` targets name the server itself, not a
        // resource of the upstream.
        if parts.method == http::Method::CONNECT || parts.method == http::Method::TRACE {
            let text = if parts.method == http::Method::CONNECT {
                "CONNECT is not supported; the gateway is not a forward proxy"
            } else {
                "TRACE is not supported; use the methods listed in Allow"
            };
            let mut resp = text_response(StatusCode::METHOD_NOT_ALLOWED, text);
            resp.headers_mut().insert(header::ALLOW, allow());
            return resp;
        }
        if parts.uri.path() == "*"
            || parts.uri.path().is_empty()
            || !parts.uri.path().starts_with('/')
        {
            if parts.method == http::Method::OPTIONS {
                let mut resp = text_response(StatusCode::OK, "");
                resp.headers_mut().insert(header::ALLOW, allow());
                return resp;
            }
            return text_response(StatusCode::BAD_REQUEST, "the request target must be a path");
        }
        let secure = self.security.is_secure(&parts);
        let peer = hardened::peer_ip(&parts);
        let trusted = self.security.trusts_proxy(peer);
        let original_authority = parts.uri.authority().cloned();
        // Kept to judge the upstream's own CORS headers (a refcount bump, when present).
        let origin = parts.headers.get(header::ORIGIN).cloned();
        // The upstream URI from parts, without formatting and re-parsing a string when
        // the upstream has no base path.
        let uri = match self.upstream_uri(&parts.uri) {
            Ok(u) => u,
            Err(reason) => {
                tracing::warn!(path = ?parts.uri.path(), reason, "request path refused");
                return text_response(StatusCode::BAD_REQUEST, reason);
            }
        };
        // Before hop-by-hop scrubbing, which removes `Connection` and `Upgrade`.
        let upgrade = crate::websocket::take(&mut parts);
        let headers = &mut parts.headers;
        strip_hop_by_hop(headers);
        scrub::scrub_request(headers, trusted);
        // The gateway answers `100-continue` itself (when it reads the body); the
        // upstream gets the body at once, as from nginx.
        headers.remove(header::EXPECT);
        join_cookies(headers);
        let peer_ip = peer
            .map(|p| p.to_canonical().to_string())
            .unwrap_or_default();
        // Every X-Forwarded-For line a trusted proxy sent, in order, then the peer.
        let mut xff = String::new();
        if trusted {
            for v in headers.get_all("x-forwarded-for") {
                if let Ok(v) = v.to_str() {
                    xff.push_str(v);
                    xff.push_str(", ");
                }
            }
        }
        xff.push_str(&peer_ip);
        if let Ok(v) = HeaderValue::from_str(&xff) {
            headers.insert("x-forwarded-for", v);
        }
        headers.insert(
            "x-forwarded-proto",
            HeaderValue::from_static(if secure { "https" } else { "http" }),
        );
        if !headers.contains_key(header::HOST)
            && let Some(a) = original_authority
            && let Ok(v) = HeaderValue::from_str(a.as_str())
        {
            headers.insert(header::HOST, v);
        }
        parts.uri = uri;
        let client_version = parts.version;
        parts.version = Version::HTTP_11;
        let upstream_req = Request::from_parts(parts, body);
        if let Some(upgrade) = upgrade {
            let addr = self.upstream.addr();
            return upgrade
                .forward(&self.tunnels, addr, upstream_req, client_version)
                .await;
        }
        match tokio::time::timeout(self.upstream_timeout, self.send(slot, upstream_req)).await {
            Err(_) => {
                tracing::warn!(upstream = %self.upstream, "upstream timed out");
                text_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the upstream service did not answer in time",
                )
            }
            Ok(Err(e)) if client_body_failed(&e) => {
                tracing::warn!(error = %e, "malformed request body");
                text_response(StatusCode::BAD_REQUEST, "the request body is malformed")
            }
            Ok(Err(e)) => {
                tracing::warn!(upstream = %self.upstream, error = %e, "upstream failed");
                text_response(
                    StatusCode::BAD_GATEWAY,
                    "the upstream service is unavailable",
                )
            }
            Ok(Ok(resp)) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                scrub::strip_foreign_cors(&mut parts.headers, origin.as_ref(), &self.security);
                // Answer in the client's protocol version, not the upstream's.
                parts.version = client_version;
                Response::from_parts(
                    parts,
                    body.map_err(|e| Box::new(e) as BoxError).boxed_unsync(),
                )
            }
        }
    }
}
