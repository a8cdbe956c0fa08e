//! An axum hello-world server for the HTTP benchmarks, bare or behind
//! `Security::layer()`; the bare one also serves as the gateway benchmarks' upstream.
//!
//! ```text
//! bench-server bare       127.0.0.1:9100
//! bench-server headers    127.0.0.1:9102            # bare + the layer's 6 response headers
//! bench-server hardened   127.0.0.1:9101 [DOMAINS]  # production, DOMAINS (100) domains
//! bench-server tower-http 127.0.0.1:9103 [DOMAINS]  # the same job from tower-http parts
//! bench-server bodies     127.0.0.1:9104            # upstream of the large-body runs
//! bench-server hyper      127.0.0.1:9105            # hyper alone, no router
//! ```
//!
//! `headers` adds, with a plain `map_response`, the six headers the production layer adds
//! to such a response (`Vary: origin` and the five security headers) and checks nothing:
//! it separates what the headers themselves cost (building, encoding and sending ~170
//! more bytes) from what the checks cost. The hardened server allows `app0.example.com` ..
//! `app{DOMAINS-1}.example.com`; load it with one of those as Host. `tower-http` is
//! [`hardened_bench::TowerHttpStack`]: five `SetResponseHeaderLayer::overriding`, a Host
//! allow-list middleware and tower-http's `CorsLayer` with the same origins.
//!
//! `bodies` serves `GET /` (hello), `POST /upload` (reads the body, answers its length)
//! and `GET /download/{bytes}` (that many bytes, at most 1 GiB, from one shared buffer).
//! `hyper` answers every request with the same hello-world from a bare hyper HTTP/1.1
//! connection (no axum router, no per-request allocation in the service): an upstream
//! fast enough that a proxy in front of it is the bottleneck.
//!
//! Only loopback addresses are accepted.

use std::net::SocketAddr;
use std::process::ExitCode;

use std::pin::Pin;
use std::sync::Mutex;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Path;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use hardened::Security;
use hardened::config::Config;
use hardened::probe::RuntimeProbe;
use http::header::{self, HeaderName, HeaderValue};

async fn hello() -> &'static str {
    "Hello, World!"
}

/// The headers `Security::layer()` adds to a production response without `Origin`.
fn add_headers(mut resp: axum::response::Response) -> axum::response::Response {
    let h = resp.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("origin"));
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (header::X_XSS_PROTECTION, "0"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

/// Reads a request body to its end; answers how many bytes it had.
async fn upload(body: Body) -> Result<String, (http::StatusCode, String)> {
    let mut body = body;
    let mut n: u64 = 0;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| (http::StatusCode::BAD_REQUEST, e.to_string()))?;
        if let Some(data) = frame.data_ref() {
            n += data.len() as u64;
        }
    }
    Ok(format!("{n}\n"))
}

/// The largest `/download`.
const MAX_DOWNLOAD: usize = 1 << 30;

/// The buffer `/download` answers slices of.
static DOWNLOAD: Mutex<Bytes> = Mutex::new(Bytes::new());

/// `bytes` bytes of one shared buffer (grown on demand, never copied per request).
async fn download(Path(bytes): Path<usize>) -> Result<Bytes, http::StatusCode> {
    if bytes > MAX_DOWNLOAD {
        return Err(http::StatusCode::PAYLOAD_TOO_LARGE);
    }
    let mut shared = DOWNLOAD
        .lock()
        .map_err(|_| http::StatusCode::INTERNAL_SERVER_ERROR)?;
    if shared.len() < bytes {
        *shared = Bytes::from(vec![b'x'; bytes]);
    }
    Ok(shared.slice(..bytes))
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: bench-server bare|headers|hardened|tower-http|bodies|hyper 127.0.0.1:PORT [DOMAINS]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(addr)) = (args.first(), args.get(1)) else {
        return usage();
    };
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        return usage();
    };
    if !addr.ip().is_loopback() {
        eprintln!("bench-server: listen on a loopback address only, not {addr}");
        return ExitCode::from(2);
    }
    let n: usize = match args.get(2).map(|s| s.parse()) {
        None => 100,
        Some(Ok(n)) => n,
        Some(Err(_)) => return usage(),
    };
    let app = Router::new().route("/", get(hello));
    let app = match mode.as_str() {
        "hyper" => return run(serve_hyper(addr)),
        "bare" => app,
        "headers" => app.layer(tower::util::MapResponseLayer::new(add_headers)),
        "tower-http" => app.layer(hardened_bench::TowerHttpStack::new(n)),
        "bodies" => app
            .route("/upload", post(upload))
            .route("/download/{bytes}", get(download)),
        "hardened" => {
            let security = Config::production(hardened_bench::domains(n))
                .map_err(|e| e.to_string())
                .and_then(|cfg| {
                    Security::from_config(&cfg, &RuntimeProbe::none()).map_err(|e| e.to_string())
                });
            match security {
                Ok(s) => app.layer(s.layer()),
                Err(e) => {
                    eprintln!("bench-server: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => return usage(),
    };
    run(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?.tap_io(|tcp| {
            // As `hardened serve` does.
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await
    })
}

/// Runs `serve` on a multi-threaded runtime; the exit code says how it ended.
fn run(serve: impl std::future::Future<Output = std::io::Result<()>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-server: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The `hyper` mode: one hyper HTTP/1.1 connection task per client, every request
/// answered `200 Hello, World!` (`text/plain`, as the axum app's).
async fn serve_hyper(addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_req| async {
                let mut resp = http::Response::new(http_body_util::Full::new(Bytes::from_static(
                    b"Hello, World!",
                )));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                Ok::<_, std::convert::Infallible>(resp)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
