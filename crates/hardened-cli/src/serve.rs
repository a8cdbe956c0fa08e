//! `hardened serve`: the security stack over HTTP, in front of an upstream service
//! (gateway) or of the built-in demo app.

use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hardened::{PeerAddr, Security};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::Layer;

use crate::ConfigArg;
use crate::common::{self, CliError};
use crate::demo;

/// A boxed error.
type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body every inner service answers with.
type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

/// Arguments of `hardened serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Forward allowed requests to this service (gateway mode), e.g. http://127.0.0.1:9000.
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Seconds to wait for the upstream's response headers before answering 504.
    #[arg(long, default_value_t = 30)]
    upstream_timeout: u64,
    /// Seconds a client may take to send its request head (slow-loris protection).
    #[arg(long, default_value_t = 30)]
    header_read_timeout: u64,
}

/// Runs `hardened serve`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let loaded = common::load_strict(args.config.config.as_deref())?;
    let security = Security::from_config(&loaded.config, &common::probe_machine())?;
    let upstream = match &args.upstream {
        Some(u) => Some(parse_upstream(u)?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Message(format!("cannot start the runtime: {e}")))?;
    rt.block_on(serve(security, args, upstream, out))
}

fn parse_upstream(u: &str) -> Result<Uri, CliError> {
    let uri: Uri = u
        .parse()
        .map_err(|e| CliError::Message(format!("--upstream {u:?}: {e}")))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(_)) => Ok(uri),
        (Some("https"), _) => Err(CliError::Message(format!(
            "--upstream {u:?}: https upstreams are not supported; the gateway speaks plain HTTP to a local or internal service"
        ))),
        _ => Err(CliError::Message(format!(
            "--upstream {u:?}: give an absolute URL such as http://127.0.0.1:9000"
        ))),
    }
}

async fn serve(
    security: Security,
    args: &Args,
    upstream: Option<Uri>,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            "the port is taken; stop the other process or choose another with --listen 127.0.0.1:PORT"
        } else {
            "check the address given to --listen"
        };
        CliError::Message(format!("cannot listen on {}: {e}; {hint}", args.listen))
    })?;
    let local = listener.local_addr()?;
    let app = match upstream {
        Some(u) => App::Proxy(Arc::new(Proxy {
            upstream_addr: upstream_addr(&u),
            upstream: u,
            timeout: Duration::from_secs(args.upstream_timeout.max(1)),
            security: security.clone(),
        })),
        None => App::Demo(security.clone()),
    };
    writeln!(
        out,
        "hardened: listening on http://{local} ({}, {})",
        security.policy().environment,
        match &app {
            App::Proxy(p) => format!("gateway to {}", p.upstream),
            App::Demo(_) => "demo app".to_owned(),
        }
    )?;
    out.flush()?;
    tracing_init();

    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A timer makes hyper enforce its header-read timeout (slow-loris clients) and
    // HTTP/2 keep-alive; without one both are silently off.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(args.header_read_timeout.max(1)));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(60));
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let svc = AddPeer {
                    inner: security.layer().layer(AppService {
                        app: app.clone(),
                        upstream: Arc::default(),
                    }),
                    peer,
                };
                let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
                let fut = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = fut.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("connections still open after 10 s; closing");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn tracing_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HARDENED_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The application behind the security layer.
#[derive(Clone)]
enum App {
    Demo(Security),
    Proxy(Arc<Proxy>),
}

/// Inserts the peer address so the security layer can judge forwarded headers.
#[derive(Clone)]
struct AddPeer<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S, B> tower::Service<Request<B>> for AddPeer<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        req.extensions_mut().insert(PeerAddr(self.peer));
        self.inner.call(req)
    }
}

/// The demo app or the gateway, for one client connection.
#[derive(Clone)]
struct AppService {
    app: App,
    /// The gateway's upstream connection for this client connection: requests of one
    /// client connection reuse it in turn (no shared pool, no lock contention between
    /// clients).
    upstream: UpstreamSlot,
}

/// An idle upstream connection, taken while a request uses it.
type UpstreamSlot = Arc<std::sync::Mutex<Option<http1::SendRequest<Incoming>>>>;

impl tower::Service<Request<Incoming>> for AppService {
    type Response = Response<BoxBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<BoxBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        match &self.app {
            App::Demo(sec) => {
                let resp =
                    demo::respond(sec, req).map(|b| b.map_err(|e| match e {}).boxed_unsync());
                Box::pin(std::future::ready(Ok(resp)))
            }
            App::Proxy(p) => {
                let p = p.clone();
                let slot = self.upstream.clone();
                Box::pin(async move { Ok(p.forward(req, &slot).await) })
            }
        }
    }
}

/// The gateway: forwards to the upstream with streaming bodies.
struct Proxy {
    upstream: Uri,
    /// `host:port` to connect to.
    upstream_addr: String,
    timeout: Duration,
    security: Security,
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

fn strip_hop_by_hop(headers: &mut HeaderMap) {
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

fn text_response(status: StatusCode, text: &str) -> Response<BoxBody> {
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
    /// The origin-form target sent upstream: the upstream's base path, then the
    /// client's path and query (no re-parsing when there is no base path).
    fn upstream_uri(&self, target: &Uri) -> Option<Uri> {
        let base = self.upstream.path().trim_end_matches('/');
        let mut parts = http::uri::Parts::default();
        parts.path_and_query = if base.is_empty() {
            target.path_and_query().cloned()
        } else {
            let pq = target.path_and_query().map_or("/", |pq| pq.as_str());
            Some(format!("{base}{pq}").parse().ok()?)
        };
        Uri::from_parts(parts).ok()
    }

    /// A new upstream connection, driven by its own task.
    async fn connect(&self) -> Result<http1::SendRequest<Incoming>, ForwardError> {
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(self.upstream_addr.as_str()),
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

    async fn forward(&self, req: Request<Incoming>, slot: &UpstreamSlot) -> Response<BoxBody> {
        let (mut parts, body) = req.into_parts();
        // CONNECT would turn the gateway into an open tunnel; `*` targets name the
        // server itself, not a resource of the upstream.
        if parts.method == http::Method::CONNECT {
            let mut resp =
                text_response(StatusCode::METHOD_NOT_ALLOWED, "CONNECT is not supported");
            resp.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
            );
            return resp;
        }
        if parts.uri.path() == "*"
            || parts.uri.path().is_empty()
            || !parts.uri.path().starts_with('/')
        {
            if parts.method == http::Method::OPTIONS {
                let mut resp = text_response(StatusCode::OK, "");
                resp.headers_mut().insert(
                    header::ALLOW,
                    HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
                );
                return resp;
            }
            return text_response(StatusCode::BAD_REQUEST, "the request target must be a path");
        }
        let secure = self.security.is_secure(&parts);
        let peer = hardened::peer_ip(&parts);
        let trusted = self.security.trusts_proxy(peer);
        let original_authority = parts.uri.authority().cloned();
        // The upstream URI from parts, without formatting and re-parsing a string when
        // the upstream has no base path.
        let uri = match self.upstream_uri(&parts.uri) {
            Some(u) => u,
            None => return text_response(StatusCode::BAD_REQUEST, "invalid request target"),
        };
        let headers = &mut parts.headers;
        strip_hop_by_hop(headers);
        if !trusted {
            // Every proxy header an untrusted client may have forged: `Forwarded`, all
            // `X-Forwarded-*` (`-Ssl`, `-Scheme`, `-Port`, `-Prefix`, ...), `X-Real-IP`,
            // `Front-End-Https`.
            let forged: Vec<HeaderName> = headers
                .keys()
                .filter(|n| {
                    let n = n.as_str();
                    n.starts_with("x-forwarded-")
                        || matches!(
                            n,
                            "forwarded" | "x-real-ip" | "front-end-https" | "x-url-scheme"
                        )
                })
                .cloned()
                .collect();
            for name in forged {
                headers.remove(name);
            }
        }
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
        match tokio::time::timeout(self.timeout, self.send(slot, upstream_req)).await {
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
