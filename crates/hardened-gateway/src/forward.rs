//! Proxying one request the policy allowed: method and target checks, hop-by-hop and
//! forwarded-header scrubbing (see `scrub`), HTTP/2 cookie crumbs joined,
//! `X-Forwarded-For`/`-Proto`, the upstream URI (dot segments resolved inside the base
//! path, see `target`), the request body read first and the response read whole (see
//! `buffer`), an upstream connection from the shared pool (see `pool`), and upstream
//! failures mapped to 502/503/504.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::buffer::{
    self, BodyError, BodyLimits, RequestBody, ResponseBuffering, X_ACCEL_BUFFERING,
};
use crate::metrics::{UpstreamFailure, UpstreamTime};
use crate::pool::{ClientSlots, Pool, SendError};
use crate::reply::text_response;
use crate::scrub::strip_hop_by_hop;
use crate::{BoxBody, GatewayOptions, Upstream, h1, scrub, target};

/// What the policy in front of the proxy found when it admitted a request: its client
/// (peer, trusted proxy, secure), computed once by the security layer, and the CORS
/// origin it allowed.
#[derive(Clone)]
pub(crate) struct Admitted {
    pub(crate) client: hardened::Client,
    /// The request's `Origin` when the policy (the request's route, or the global
    /// CORS rules) allows it.
    pub(crate) cors_origin: Option<HeaderValue>,
    /// The collector's settings when the request is an upload to its path.
    pub(crate) reports: Option<hardened::reports::ReportsConfig>,
}

/// The methods the gateway answers `Allow` with.
fn allow() -> HeaderValue {
    HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
}

/// The forwarding half of a gateway, shared by all its connections.
#[derive(Debug)]
pub(crate) struct Proxy {
    upstream: Upstream,
    upstream_timeout: Duration,
    /// HTTP/1.1 upgrades (WebSockets).
    tunnels: Arc<crate::websocket::Tunnels>,
    /// The upstream connections, shared by every client.
    pool: Arc<Pool>,
    /// Request body buffering and limits.
    bodies: BodyLimits,
    /// Response buffering.
    responses: Arc<ResponseBuffering>,
    /// The request header carrying the CSP nonce to the upstream.
    nonce_header: HeaderName,
    /// The violation report collector, answering `reports.path` itself.
    pub(crate) reports: crate::reports::Reports,
}

/// The proxy for one client connection.
#[derive(Clone)]
pub(crate) struct ProxyService {
    proxy: Arc<Proxy>,
    /// This client connection's share of the upstream connections.
    client: ClientSlots,
    /// The client's address as `X-Forwarded-For` names it, formatted once per
    /// connection.
    peer: Option<HeaderValue>,
    /// Whether responses carry the upstream's time ([`UpstreamTime`], for the access
    /// log): an extension map allocated and dropped per response otherwise for nothing.
    timed: bool,
}

impl tower::Service<Request<Incoming>> for ProxyService {
    type Response = Response<BoxBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<BoxBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let proxy = self.proxy.clone();
        let client = self.client.clone();
        let peer = self.peer.clone();
        let timed = self.timed;
        Box::pin(async move { Ok(proxy.forward(req, &client, peer, timed).await) })
    }
}

/// `X-Forwarded-For`.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

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
/// chunk size, a truncated chunk, fewer bytes than its `Content-Length`). That is the
/// client's fault (400), not the upstream's (502).
fn client_body_failed(e: &SendError) -> bool {
    match e {
        SendError::Upstream(h1::Error::RequestBody(_) | h1::Error::RequestBodyLength) => true,
        // hyper reports the body stream's error as a "user" error.
        SendError::Http(h) => error_chain_has_user_error(h),
        _ => false,
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

/// The limit a streamed request body broke while it was being forwarded, if that is
/// why forwarding failed.
fn streamed_body_refused(e: &SendError) -> Option<&BodyError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = match e {
        SendError::Upstream(h1::Error::RequestBody(b)) => Some(b.as_ref()),
        SendError::Http(h) => Some(h),
        _ => None,
    };
    while let Some(err) = cur {
        if let Some(b) = err.downcast_ref::<BodyError>() {
            return Some(b);
        }
        cur = err.source();
    }
    None
}

/// The answer to a request body refused before it reached the upstream: 413, 408, 400
/// or 507. The rest of the body is not read: an HTTP/1 connection is closed after it.
fn body_refused(e: &BodyError, version: Version) -> Response<BoxBody> {
    let status = match e {
        BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        BodyError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        BodyError::Malformed(_) => StatusCode::BAD_REQUEST,
        BodyError::Storage(_) => StatusCode::INSUFFICIENT_STORAGE,
    };
    match e {
        BodyError::Storage(_) => tracing::warn!(error = %e, "request body not stored"),
        _ => tracing::info!(error = %e, "request body refused"),
    }
    let mut resp = text_response(status, &e.to_string());
    if version < Version::HTTP_2 {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Marks the gateway's own answer to an upstream failure, for the metrics.
fn with_failure(mut resp: Response<BoxBody>, kind: UpstreamFailure) -> Response<BoxBody> {
    resp.extensions_mut().insert(kind);
    resp
}

/// 503 with `Retry-After: 1`: no upstream connection (or tunnel slot) within the caps.
fn unavailable(text: &str) -> Response<BoxBody> {
    let mut resp = text_response(StatusCode::SERVICE_UNAVAILABLE, text);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    with_failure(resp, UpstreamFailure::Refused)
}

impl Proxy {
    pub(crate) fn new(upstream: Upstream, options: &GatewayOptions) -> Proxy {
        Proxy {
            pool: Arc::new(Pool::new(&upstream, options)),
            upstream,
            upstream_timeout: options.upstream_timeout,
            tunnels: crate::websocket::Tunnels::new(options),
            bodies: BodyLimits::new(options),
            responses: Arc::new(ResponseBuffering::new(options)),
            nonce_header: options.csp_nonce_header.clone(),
            reports: crate::reports::Reports::new(options),
        }
    }

    pub(crate) fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    pub(crate) fn tunnels(&self) -> &Arc<crate::websocket::Tunnels> {
        &self.tunnels
    }

    /// The proxy for a new client connection from `peer` (with no upstream connection
    /// yet); with `timed`, its responses carry the upstream's time.
    pub(crate) fn connection(
        self: &Arc<Self>,
        peer: std::net::SocketAddr,
        timed: bool,
    ) -> ProxyService {
        ProxyService {
            proxy: self.clone(),
            client: self.pool.client(),
            peer: HeaderValue::try_from(peer.ip().to_canonical().to_string()).ok(),
            timed,
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

    /// Forwards one request the policy allowed and returns the upstream's answer (or
    /// the gateway's own: 400, 405, 408, 413, 502, 503, 504, 507).
    async fn forward(
        &self,
        req: Request<Incoming>,
        client: &ClientSlots,
        connection_peer: Option<HeaderValue>,
        timed: bool,
    ) -> Response<BoxBody> {
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
        // What the policy in force when the request arrived found of the client, and
        // the CORS origin it allowed, as the security layer in front decided (see
        // `observe`).
        let Some(Admitted {
            client: facts,
            cors_origin,
            reports,
        }) = parts.extensions.remove::<Admitted>()
        else {
            tracing::error!("a request reached the proxy without the security layer's decision");
            return text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request was not admitted by the policy",
            );
        };
        if let Some(settings) = &reports {
            let client = crate::reports::client_address(&parts, facts);
            return self.reports.receive(settings, &parts, body, client).await;
        }
        let (peer, trusted, secure) = (facts.peer(), facts.trusted_proxy(), facts.secure());
        let original_authority = parts.uri.authority().cloned();
        let buffer_body = self.bodies.buffers(parts.uri.path());
        // The origin the policy allowed, to judge the upstream's own CORS headers.
        let origin = cors_origin;
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
        strip_hop_by_hop(&mut parts.headers);
        scrub::scrub_request(&mut parts.headers, trusted);
        // After the hop-by-hop scrubbing: a client's `Connection: x-csp-nonce` must not
        // remove the nonce the gateway passes.
        crate::nonce::pass_to_upstream(&mut parts, &self.nonce_header);
        let headers = &mut parts.headers;
        // The gateway answers `100-continue` itself (when it reads the body); the
        // upstream gets the body at once, as from nginx.
        headers.remove(header::EXPECT);
        join_cookies(headers);
        // Every X-Forwarded-For line a trusted proxy sent, in order, then the peer.
        // The connection's peer (formatted when it was accepted) is the request's.
        let peer_ip = connection_peer.or_else(|| {
            peer.and_then(|p| HeaderValue::try_from(p.to_canonical().to_string()).ok())
        });
        let prior: Vec<&str> = if trusted {
            headers
                .get_all(&X_FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect()
        } else {
            Vec::new()
        };
        let xff = if prior.is_empty() {
            peer_ip.unwrap_or_else(|| HeaderValue::from_static(""))
        } else {
            let mut joined = prior.join(", ");
            joined.push_str(", ");
            joined.push_str(peer_ip.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""));
            HeaderValue::try_from(joined).unwrap_or_else(|_| HeaderValue::from_static(""))
        };
        headers.insert(X_FORWARDED_FOR, xff);
        headers.insert(
            X_FORWARDED_PROTO,
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
        if let Some(upgrade) = upgrade {
            // Boxed: the rare path's state would otherwise be part of every request's
            // future.
            return Box::pin(self.handshake(upgrade, parts, body, client, origin, client_version))
                .await;
        }
        // The body: none (nothing to do), read completely before the upstream is
        // involved, or streamed under the same limits.
        let body = if body.is_end_stream() {
            RequestBody::Empty
        } else if self.bodies.too_large(body.size_hint().lower()) {
            return body_refused(
                &BodyError::TooLarge {
                    limit: self.bodies.max,
                },
                client_version,
            );
        } else if buffer_body {
            match Box::pin(buffer::collect(body, &self.bodies)).await {
                Ok(None) => RequestBody::Empty,
                Ok(Some(b)) => {
                    parts
                        .headers
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(b.len()));
                    RequestBody::Buffered(b)
                }
                Err(e) => return body_refused(&e, client_version),
            }
        } else {
            RequestBody::Streamed(buffer::Streamed::new(body, &self.bodies))
        };
        let streamed = matches!(body, RequestBody::Streamed(_));
        let upstream_req = Request::from_parts(parts, body);
        let lease = match self.pool.acquire(client).await {
            Ok(lease) => lease,
            Err(refused) => return self.no_connection(&refused),
        };
        let sent = std::time::Instant::now();
        let sending = async {
            if streamed {
                lease.send_streaming(upstream_req).await
            } else {
                lease.send(upstream_req).await
            }
        };
        match tokio::time::timeout(self.upstream_timeout, sending).await {
            Err(_) => self.timed_out(),
            Ok(Err(e)) => {
                if let Some(refused) = streamed_body_refused(&e) {
                    return body_refused(refused, client_version);
                }
                if client_body_failed(&e) {
                    tracing::warn!(error = %e, "malformed request body");
                    return text_response(StatusCode::BAD_REQUEST, "the request body is malformed");
                }
                self.failed(&e)
            }
            Ok(Ok(resp)) => {
                self.respond(resp, timed.then_some(sent), origin.as_ref(), client_version)
                    .await
            }
        }
    }

    /// Forwards an upgrade handshake (see `websocket`): an ordinary request until the
    /// upstream answers `101` — no body, the pool's caps, the upstream timeout, and
    /// every other answer treated like any response (buffered, CORS headers judged).
    #[allow(clippy::too_many_arguments)]
    async fn handshake(
        &self,
        upgrade: crate::websocket::Upgrade,
        mut parts: http::request::Parts,
        body: Incoming,
        client: &ClientSlots,
        origin: Option<HeaderValue>,
        client_version: Version,
    ) -> Response<BoxBody> {
        // A handshake has no body (RFC 6455 §4.1; an upgrade's request is complete
        // before the protocol switches): one that is too large is refused as any
        // request's would be, any other is refused unread, so that neither its bytes
        // nor a stalled body ever reach or hold an upstream connection.
        if !body.is_end_stream() {
            if self.bodies.too_large(body.size_hint().lower()) {
                return body_refused(
                    &BodyError::TooLarge {
                        limit: self.bodies.max,
                    },
                    client_version,
                );
            }
            tracing::info!("upgrade request with a body refused");
            let mut resp = text_response(
                StatusCode::BAD_REQUEST,
                "an upgrade request (WebSocket handshake) has no body; send it without one",
            );
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return resp;
        }
        // Under the tunnel cap first (never waiting: a handshake is cheap to retry), so
        // that clients holding tunnels open can never take every upstream connection.
        let Some(slot) = self.tunnels.slot() else {
            tracing::warn!(
                cap = self.tunnels.cap(),
                "upgrade refused: every tunnel slot is in use"
            );
            return unavailable(&format!(
                "all {} tunnel slots (WebSocket and other upgrades) are in use; retry later",
                self.tunnels.cap()
            ));
        };
        upgrade.restore(&mut parts.headers);
        let lease = match self.pool.acquire(client).await {
            Ok(lease) => lease,
            Err(refused) => return self.no_connection(&refused),
        };
        let sent = std::time::Instant::now();
        let req = Request::from_parts(parts, http_body_util::Empty::new());
        match tokio::time::timeout(self.upstream_timeout, lease.send_upgrade(req)).await {
            Err(_) => self.timed_out(),
            Ok(Err(e)) => self.failed(&e),
            Ok(Ok((resp, Some(upstream)))) => {
                let (mut head, _empty) = resp.into_parts();
                head.extensions.insert(UpstreamTime(sent.elapsed()));
                upgrade.switch(&self.tunnels, slot, head, upstream, client_version)
            }
            Ok(Ok((resp, None))) => {
                self.respond(resp, Some(sent), origin.as_ref(), client_version)
                    .await
            }
        }
    }

    /// The answer when no upstream connection could be had: 503, retry in a second.
    fn no_connection(&self, refused: &crate::pool::Refused) -> Response<BoxBody> {
        tracing::warn!(upstream = %self.upstream, reason = %refused, "no upstream connection");
        unavailable(&refused.to_string())
    }

    /// The answer when the upstream did not answer within the upstream timeout: 504.
    fn timed_out(&self) -> Response<BoxBody> {
        tracing::warn!(upstream = %self.upstream, "upstream timed out");
        with_failure(
            text_response(
                StatusCode::GATEWAY_TIMEOUT,
                "the upstream service did not answer in time",
            ),
            UpstreamFailure::Timeout,
        )
    }

    /// The answer when the exchange with the upstream failed: 503 or 502.
    fn failed(&self, e: &SendError) -> Response<BoxBody> {
        tracing::warn!(upstream = %self.upstream, error = %e, "upstream failed");
        if let SendError::Refused(refused) = e {
            return self.no_connection(refused);
        }
        let kind = match e {
            SendError::Connect(_) => UpstreamFailure::Connect,
            _ => UpstreamFailure::Protocol,
        };
        with_failure(
            text_response(
                StatusCode::BAD_GATEWAY,
                "the upstream service is unavailable",
            ),
            kind,
        )
    }

    /// The upstream's answer as the client gets it: hop-by-hop headers and CORS
    /// headers the policy did not grant removed, in the client's protocol version, read
    /// whole first unless it must stream (see `buffer`).
    async fn respond(
        &self,
        resp: Response<crate::pool::UpstreamBody>,
        sent: Option<std::time::Instant>,
        origin: Option<&HeaderValue>,
        client_version: Version,
    ) -> Response<BoxBody> {
        let (mut parts, body) = resp.into_parts();
        // A protocol switch the client did not ask for (or that the gateway does not
        // tunnel): the connection would be left to the upstream's bytes.
        if parts.status == StatusCode::SWITCHING_PROTOCOLS {
            tracing::warn!(upstream = %self.upstream, "upstream switched protocols on a request that is no upgrade");
            return with_failure(
                text_response(
                    StatusCode::BAD_GATEWAY,
                    "the upstream service is unavailable",
                ),
                UpstreamFailure::Protocol,
            );
        }
        if let Some(sent) = sent {
            parts.extensions.insert(UpstreamTime(sent.elapsed()));
        }
        strip_hop_by_hop(&mut parts.headers);
        scrub::strip_foreign_cors(&mut parts.headers, origin);
        // Answer in the client's protocol version, not the upstream's.
        parts.version = client_version;
        let stream = !self.responses.enabled || buffer::must_stream(parts.status, &parts.headers);
        // An instruction to the gateway, as nginx keeps it from the client.
        parts.headers.remove(X_ACCEL_BUFFERING);
        // The body gives its upstream connection back to the pool itself, once it has
        // been read to its end (see `pool`).
        let body = if stream {
            body.map_err(Into::into).boxed_unsync()
        } else {
            match buffer::buffer_response(body, Box::new(|| {}), &self.responses).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(upstream = %self.upstream, error = %e, "upstream response failed");
                    return with_failure(
                        text_response(
                            StatusCode::BAD_GATEWAY,
                            "the upstream service is unavailable",
                        ),
                        UpstreamFailure::Protocol,
                    );
                }
            }
        };
        Response::from_parts(parts, body)
    }
}
